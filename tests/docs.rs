//! Shader citations in the docs stay true as the shaders change. No GPU needed.
//!
//! The docs cite shader code by named anchor, never by line number, because line numbers drift
//! with every edit of a shader. A citation reads `shaders/FILE.wgsl#NAME` and points at the
//! comment line `// @anchor: NAME` in `shaders/FILE.wgsl`, which sits just above the code meant.
//!
//! Checked over README.md, ARCHITECTURE.md, the Markdown under docs/, benches/ and crates/, and
//! the Rust under crates/, tests/ and benches/ (this file excepted: it quotes bad citations):
//! - every cited anchor exists exactly once in the named shader, and the shader exists;
//! - no shader is cited by line number: neither `FILE.wgsl:42` nor "line 42" / "lines 34-38"
//!   in a Markdown section or a Rust comment block that names a `.wgsl` file;
//! - every anchor line in `shaders/` is well formed and unique within its file.

use std::path::{Path, PathBuf};

/// The comment that marks an anchor in a shader: `// @anchor: NAME` on its own line.
const ANCHOR_TAG: &str = "// @anchor:";

/// Characters allowed in a shader file stem and in an anchor name.
fn is_stem_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}
fn is_anchor_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// How many times anchor `name` is defined in shader source `src`.
fn anchor_count(src: &str, name: &str) -> usize {
    src.lines()
        .filter(|l| l.trim().strip_prefix(ANCHOR_TAG).map(str::trim) == Some(name))
        .count()
}

/// 1-based line number of byte offset `at` in `text`.
fn line_of(text: &str, at: usize) -> usize {
    text[..at].matches('\n').count() + 1
}

/// Offsets of every `line N` / `lines N` (a whole word followed by a number) in `text`.
fn line_number_mentions(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices("line") {
        let word_start = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric() && c != '_');
        let rest = &text[at + "line".len()..];
        let rest = rest.strip_prefix('s').unwrap_or(rest);
        let spaced = rest.trim_start();
        if word_start
            && spaced.len() < rest.len()
            && spaced.starts_with(|c: char| c.is_ascii_digit())
        {
            out.push(at);
        }
    }
    out
}

/// Whether `text` names a shader file (`something.wgsl`, not a bare `.wgsl`).
fn names_a_shader(text: &str) -> bool {
    text.match_indices(".wgsl")
        .any(|(at, _)| text[..at].chars().next_back().is_some_and(is_stem_char))
}

/// The parts of a file that the "no line numbers near a shader name" rule looks at, as
/// (byte offset, text): Markdown sections (split at headings outside code fences), or the
/// comment blocks of a Rust file (runs of consecutive `//` lines).
fn blocks(text: &str, markdown: bool) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut current: Option<(usize, String)> = None;
    let mut fenced = false;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let (starts_block, belongs) = if markdown {
            if trimmed.starts_with("```") {
                fenced = !fenced;
            }
            (!fenced && trimmed.starts_with('#'), true)
        } else {
            let comment = trimmed.starts_with("//");
            (false, comment)
        };
        if starts_block || !belongs {
            out.extend(current.take());
        }
        if belongs {
            current
                .get_or_insert_with(|| (offset, String::new()))
                .1
                .push_str(line);
        }
        offset += line.len();
    }
    out.extend(current);
    out
}

/// Every problem with the shader citations in one file's `text`, as `label:line: message`.
/// `shader(stem)` returns the source of `shaders/STEM.wgsl`, or `None` if there is none.
fn check_text(
    label: &str,
    text: &str,
    markdown: bool,
    shader: &dyn Fn(&str) -> Option<String>,
) -> (usize, Vec<String>) {
    let mut problems = Vec::new();
    let mut citations = 0;
    for (at, _) in text.match_indices(".wgsl") {
        let stem_start = text[..at]
            .char_indices()
            .rev()
            .take_while(|&(_, c)| is_stem_char(c))
            .last()
            .map_or(at, |(i, _)| i);
        let stem = &text[stem_start..at];
        let after = &text[at + ".wgsl".len()..];
        let here = format!("{label}:{}", line_of(text, at));
        if stem.is_empty() {
            continue; // a bare `.wgsl`: the file type, not a file
        }
        if let Some(rest) = after.strip_prefix(':')
            && rest.starts_with(|c: char| c.is_ascii_digit())
        {
            problems.push(format!(
                "{here}: `{stem}.wgsl:{}…` cites a shader by line number; \
                 add `// @anchor: NAME` above that code and cite `shaders/{stem}.wgsl#NAME`",
                rest.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            ));
        }
        let Some(rest) = after.strip_prefix('#') else {
            continue;
        };
        let name: String = rest.chars().take_while(|&c| is_anchor_char(c)).collect();
        citations += 1;
        if name.is_empty() {
            problems.push(format!("{here}: `{stem}.wgsl#` has no anchor name"));
            continue;
        }
        match shader(stem) {
            None => problems.push(format!(
                "{here}: `{stem}.wgsl#{name}` cites shaders/{stem}.wgsl, which does not exist"
            )),
            Some(src) => match anchor_count(&src, &name) {
                1 => {}
                0 => problems.push(format!(
                    "{here}: `{stem}.wgsl#{name}`: shaders/{stem}.wgsl has no \
                     `// @anchor: {name}` line (renamed or removed? fix the doc or the shader)"
                )),
                n => problems.push(format!(
                    "{here}: `{stem}.wgsl#{name}`: shaders/{stem}.wgsl defines that anchor {n} \
                     times; an anchor must be unique in its file"
                )),
            },
        }
    }
    for (start, block) in blocks(text, markdown) {
        if !names_a_shader(&block) {
            continue;
        }
        for at in line_number_mentions(&block) {
            let quote: String = block[at..]
                .chars()
                .take_while(|&c| c != '\n')
                .take(24)
                .collect();
            problems.push(format!(
                "{label}:{}: \"{quote}…\" cites shader code by line number next to a `.wgsl` \
                 name; cite `shaders/FILE.wgsl#NAME` (a `// @anchor: NAME` line) instead",
                line_of(text, start + at)
            ));
        }
    }
    (citations, problems)
}

/// The files whose shader citations are checked, relative to the repository root.
fn scanned_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if !matches!(
                    path.file_name().and_then(|n| n.to_str()),
                    Some("target" | "fixtures")
                ) {
                    walk(&path, ext, out);
                }
            } else if path.extension().is_some_and(|e| e == ext) {
                out.push(path);
            }
        }
    }
    let mut files = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
    for dir in ["docs", "benches", "crates"] {
        walk(&root.join(dir), "md", &mut files);
    }
    for dir in ["crates", "tests", "benches"] {
        walk(&root.join(dir), "rs", &mut files);
    }
    let this_file = root.join(file!());
    files.retain(|p| *p != this_file);
    files.sort();
    files
}

/// The source of `shaders/STEM.wgsl` in the repository, if it exists.
fn read_shader(stem: &str) -> Option<String> {
    std::fs::read_to_string(
        shadercam_suite::root()
            .join("shaders")
            .join(format!("{stem}.wgsl")),
    )
    .ok()
}

#[test]
fn every_cited_shader_anchor_exists_once_and_no_doc_cites_line_numbers() {
    let root = shadercam_suite::root();
    let mut problems = Vec::new();
    let mut cited_in = Vec::new();
    for path in scanned_files(&root) {
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let label = path
            .strip_prefix(&root)
            .unwrap_or(&path)
            .display()
            .to_string();
        let markdown = path.extension().is_some_and(|e| e == "md");
        let (citations, found) = check_text(&label, &text, markdown, &read_shader);
        if citations > 0 {
            cited_in.push(format!("{label} ({citations})"));
        }
        problems.extend(found);
    }
    assert!(
        problems.is_empty(),
        "{} shader citation problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
    // The scan must see the maths doc's citations, or it is checking nothing.
    assert!(
        cited_in.iter().any(|f| f.starts_with("docs/cam-math.md")),
        "no anchor citations found in docs/cam-math.md; scanned files with citations: {cited_in:?}"
    );
    eprintln!("anchor citations checked in: {}", cited_in.join(", "));
}

#[test]
fn anchors_in_shaders_are_well_formed_and_unique() {
    let dir = shadercam_suite::root().join("shaders");
    let mut problems = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wgsl"))
        .collect();
    entries.sort();
    for path in entries {
        let src = std::fs::read_to_string(&path).unwrap();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let mut seen: Vec<&str> = Vec::new();
        for (i, line) in src.lines().enumerate() {
            let Some(rest) = line.trim().strip_prefix("// @anchor") else {
                continue;
            };
            let name = rest.strip_prefix(':').map(str::trim).unwrap_or("");
            if name.is_empty() || !name.chars().all(is_anchor_char) {
                problems.push(format!(
                    "shaders/{file}:{}: malformed anchor `{}`; write `// @anchor: NAME` with \
                     NAME of letters, digits, `_` and `-`",
                    i + 1,
                    line.trim()
                ));
            } else if seen.contains(&name) {
                problems.push(format!(
                    "shaders/{file}:{}: anchor `{name}` defined twice",
                    i + 1
                ));
            } else {
                seen.push(name);
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The checker itself: each kind of bad citation is reported, a good one is not.
#[test]
fn the_checker_reports_wrong_anchors_and_line_numbers() {
    let shader = |stem: &str| -> Option<String> {
        match stem {
            "good" => Some("// @anchor: here\nlet x = 1;\n".into()),
            "twice" => Some("// @anchor: here\n// @anchor: here\n".into()),
            _ => None,
        }
    };
    let check = |text: &str, markdown: bool| check_text("t", text, markdown, &shader).1;

    assert_eq!(
        check("See `shaders/good.wgsl#here`.", true),
        Vec::<String>::new()
    );
    assert_eq!(
        check("One `.wgsl` per kernel, 3 lines 4 you.", true).len(),
        0
    );
    let cases: [(&str, bool, &str); 7] = [
        (
            "See `shaders/good.wgsl#nowhere`.",
            true,
            "no `// @anchor: nowhere`",
        ),
        ("See `shaders/missing.wgsl#here`.", true, "does not exist"),
        ("See `shaders/twice.wgsl#here`.", true, "2 times"),
        ("See `conv2d.wgsl:42`.", true, "by line number"),
        (
            "`cam_weights.wgsl` line 46 computes it.",
            true,
            "by line number",
        ),
        (
            "## A\n\n`good.wgsl` does it.\n\nThe loop at lines 53-56 sums.\n",
            true,
            "by line number",
        ),
        (
            "/// Computed by `good.wgsl`,\n/// lines 3-4.\nfn f() {}\n",
            false,
            "by line number",
        ),
    ];
    for (text, markdown, want) in cases {
        let found = check(text, markdown);
        assert!(
            found.iter().any(|p| p.contains(want)),
            "{text:?}: expected a problem containing {want:?}, got {found:?}"
        );
    }
    // A line number in another section, or outside a Rust comment block, is not a citation.
    assert!(check("## A\n`good.wgsl`\n## B\nlines 3-4\n", true).is_empty());
    assert!(check("// `good.wgsl`\nlet lines = 3;\n// lines 3\n", false).is_empty());
}
