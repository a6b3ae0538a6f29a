//! HTTP: the hub's metadata request, resumable downloads, hash checks.

use crate::cache::HubCache;
use crate::{Hub, HubError, mb};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

const USER_AGENT: &str = concat!("shadercam/", env!("CARGO_PKG_VERSION"));

/// What the downloaded bytes must hash to.
#[derive(Clone, Debug)]
enum Expect {
    /// The hub's etag of an LFS file: the sha256 of the contents.
    Sha256(String),
    /// The hub's etag of a small file kept in git: the git blob hash,
    /// `sha1("blob <len>\0" + contents)`.
    GitSha1(String),
    /// torch.hub's rule: the sha256 starts with the hex digits in the file name.
    Sha256Prefix(String),
}

impl Expect {
    fn algorithm(&self) -> &'static str {
        match self {
            Self::Sha256(_) => "sha256",
            Self::GitSha1(_) => "git blob sha1",
            Self::Sha256Prefix(_) => "sha256 (prefix from the file name)",
        }
    }

    fn expected(&self) -> &str {
        match self {
            Self::Sha256(h) | Self::GitSha1(h) | Self::Sha256Prefix(h) => h,
        }
    }

    /// The file's hash as this check computes it; `Ok` when it matches.
    fn check(&self, path: &Path) -> Result<Result<(), String>, std::io::Error> {
        let mut f = File::open(path)?;
        let got = match self {
            Self::GitSha1(_) => {
                // git's blob hash: sha1 of "blob <len>\0" followed by the bytes.
                let mut h = Sha1::new();
                h.update(format!("blob {}\0", f.metadata()?.len()).as_bytes());
                hex(&digest_reader(h, &mut f)?)
            }
            Self::Sha256(_) | Self::Sha256Prefix(_) => hex(&digest_reader(Sha256::new(), &mut f)?),
        };
        let ok = match self {
            Self::Sha256Prefix(p) => got.starts_with(p.as_str()),
            _ => got == self.expected(),
        };
        Ok(if ok { Ok(()) } else { Err(got) })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// `scheme://host[:port]` of `url`.
fn origin(url: &str) -> &str {
    let after = url.find("://").map_or(0, |i| i + 3);
    match url[after..].find('/') {
        Some(i) => &url[..after + i],
        None => url,
    }
}

fn agent(redirects: u32, timeout: Duration, global: bool) -> ureq::Agent {
    let b = ureq::Agent::config_builder()
        .max_redirects(redirects)
        .http_status_as_error(false)
        .user_agent(USER_AGENT)
        .timeout_connect(Some(timeout))
        .timeout_recv_response(Some(timeout))
        .timeout_per_read(Some(timeout));
    let b = if global {
        b.timeout_global(Some(timeout))
    } else {
        b
    };
    b.build().into()
}

/// A transport error as a sentence; timeouts say which setting to raise.
fn reason(e: &ureq::Error, timeout: Duration, setting: &str) -> String {
    match e {
        ureq::Error::Timeout(t) => format!(
            "no answer within {:.0} s ({t} timeout); the server may be down or unreachable (raise {setting} to wait longer)",
            timeout.as_secs_f64()
        ),
        other => other.to_string(),
    }
}

fn header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
}

/// `W/"abc"` or `"abc"` -> `abc` (huggingface_hub's `_normalize_etag`).
fn normalize_etag(e: &str) -> String {
    let e = e.trim();
    let e = e.strip_prefix("W/").unwrap_or(e);
    e.trim_matches('"').to_owned()
}

/// The hub's answer about one file.
struct Metadata {
    commit: String,
    etag: String,
    size: Option<u64>,
    location: String,
}

/// `HEAD {endpoint}/{repo}/resolve/main/{file}` without following redirects to another host
/// (relative redirects, a renamed repository, are followed), as `get_hf_file_metadata` does.
fn metadata(hub: &Hub, url: &str, cache: &Path) -> Result<Metadata, HubError> {
    let meta_agent = agent(0, hub.etag_timeout, true);
    let mut url = url.to_owned();
    for _ in 0..5 {
        let mut req = meta_agent.head(&url).header("Accept-Encoding", "identity");
        if let Some(t) = &hub.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let resp = req.call().map_err(|e| HubError::Network {
            url: url.clone(),
            reason: reason(&e, hub.etag_timeout, "HF_HUB_ETAG_TIMEOUT"),
            cache: cache.to_owned(),
        })?;
        let status = resp.status().as_u16();
        let location = header(&resp, "location");
        if (300..400).contains(&status)
            && let Some(loc) = location.as_deref().filter(|l| l.starts_with('/'))
        {
            url = format!("{}{loc}", origin(&url));
            continue;
        }
        if status >= 400 {
            let code = header(&resp, "x-error-code");
            let message = header(&resp, "x-error-message");
            let mut detail = match (code, message) {
                (Some(c), Some(m)) => format!(" ({c}: {m})"),
                (Some(c), None) => format!(" ({c})"),
                (None, Some(m)) => format!(" ({m})"),
                (None, None) => String::new(),
            };
            if status == 401 || status == 403 {
                detail.push_str("; a gated or private repository needs HF_TOKEN");
            }
            return Err(HubError::Status {
                url,
                status,
                detail,
                cache: cache.to_owned(),
            });
        }
        let bad = |reason: String| HubError::Metadata {
            url: url.clone(),
            reason,
            cache: cache.to_owned(),
        };
        let commit =
            header(&resp, "x-repo-commit").ok_or_else(|| bad("no X-Repo-Commit header".into()))?;
        if !is_hex(&commit, 40) {
            return Err(bad(format!(
                "X-Repo-Commit {commit:?} is not a commit hash"
            )));
        }
        let etag = header(&resp, "x-linked-etag")
            .or_else(|| header(&resp, "etag"))
            .map(|e| normalize_etag(&e))
            .ok_or_else(|| bad("no ETag header".into()))?;
        if !is_hex(&etag, 64) && !is_hex(&etag, 40) {
            return Err(bad(format!(
                "the etag {etag:?} is neither a sha256 nor a git sha1, so the download could not be checked"
            )));
        }
        let size = header(&resp, "x-linked-size")
            .or_else(|| header(&resp, "content-length"))
            .and_then(|s| s.parse().ok());
        let location = match location {
            Some(l) if l.starts_with("http://") || l.starts_with("https://") => l,
            Some(l) if l.starts_with('/') => format!("{}{l}", origin(&url)),
            _ => url.clone(),
        };
        return Ok(Metadata {
            commit,
            etag,
            size,
            location,
        });
    }
    Err(HubError::Metadata {
        url,
        reason: "too many redirects".into(),
        cache: cache.to_owned(),
    })
}

/// Downloads a hub file into `cache` (see the crate docs for the protocol and layout).
pub(crate) fn hub_file(
    hub: &Hub,
    cache: &HubCache,
    repo: &str,
    file: &str,
) -> Result<PathBuf, HubError> {
    let url = hub.hub_url(repo, file);
    if hub.offline {
        return Err(HubError::Offline {
            url,
            cache: cache.expected(file),
        });
    }
    let m = metadata(hub, &url, &cache.dir)?;
    let blob = cache.blob(&m.etag);
    if !blob.is_file() {
        let expect = if m.etag.len() == 64 {
            Expect::Sha256(m.etag.clone())
        } else {
            Expect::GitSha1(m.etag.clone())
        };
        // The token goes to the hub only, never to the CDN a large file redirects to.
        let token = (origin(&m.location) == origin(&hub.endpoint))
            .then_some(hub.token.as_deref())
            .flatten();
        let part = cache.incomplete(&m.etag);
        download(hub, &m.location, &part, &blob, m.size, &expect, token)?;
    }
    cache.link(&m.commit, file, &m.etag)
}

/// The sha256 prefix torch.hub reads from a file name: `-([a-f0-9]*)\.` (`HASH_REGEX`).
pub(crate) fn hash_prefix(name: &str) -> Option<&str> {
    name.match_indices('-').find_map(|(i, _)| {
        let rest = &name[i + 1..];
        let end = rest.find(|c: char| !matches!(c, '0'..='9' | 'a'..='f'))?;
        (rest[end..].starts_with('.') && end > 0).then(|| &rest[..end])
    })
}

/// Downloads a torchvision file to `dest`, checked against the hash prefix in its name.
pub(crate) fn torch_file(hub: &Hub, url: &str, dest: &Path) -> Result<PathBuf, HubError> {
    let name = dest
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let dir = dest.parent().unwrap_or(Path::new("."));
    if hub.offline {
        return Err(HubError::Offline {
            url: url.to_owned(),
            cache: dest.to_owned(),
        });
    }
    let prefix = hash_prefix(&name).filter(|p| p.len() >= 8).ok_or_else(|| {
        HubError::Metadata {
            url: url.to_owned(),
            reason: format!(
                "the file name {name:?} has no `-<sha256 prefix>.` (torch.hub's naming rule), so the download could not be checked"
            ),
            cache: dir.to_owned(),
        }
    })?;
    let part = dir.join(format!("{name}.incomplete"));
    download(
        hub,
        url,
        &part,
        dest,
        None,
        &Expect::Sha256Prefix(prefix.to_owned()),
        None,
    )?;
    Ok(dest.to_owned())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HubError + '_ {
    move |source| HubError::Io {
        path: path.to_owned(),
        source,
    }
}

/// `GET url` into `part` (resuming it with a `Range` request when it exists), then checks the
/// hash and renames it to `dest`. A failed check deletes `part`; an interrupted transfer keeps it.
fn download(
    hub: &Hub,
    url: &str,
    part: &Path,
    dest: &Path,
    size: Option<u64>,
    expect: &Expect,
    token: Option<&str>,
) -> Result<(), HubError> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    if size.is_some_and(|s| have > s) {
        have = 0;
    }
    let dl = agent(10, hub.download_timeout, false);
    let network = |e: ureq::Error| HubError::Network {
        url: url.to_owned(),
        reason: reason(&e, hub.download_timeout, "HF_HUB_DOWNLOAD_TIMEOUT"),
        cache: dest.to_owned(),
    };
    // With a Range for the part already there; once more from scratch if the server cannot
    // serve that range.
    let mut ranged = have > 0;
    let resp = loop {
        let mut req = dl.get(url);
        if ranged {
            req = req.header("Range", format!("bytes={have}-"));
        }
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let r = req.call().map_err(network)?;
        let status = r.status().as_u16();
        if ranged && status == 416 {
            // Nothing left to send: the part is complete, or the file changed on the server.
            if size == Some(have) {
                break None;
            }
            (have, ranged) = (0, false);
            continue;
        }
        if status >= 400 {
            return Err(HubError::Status {
                url: url.to_owned(),
                status,
                detail: String::new(),
                cache: dest.to_owned(),
            });
        }
        // 206 continues the part; 200 (a server that ignores Range) restarts it.
        let resumed = ranged
            && status == 206
            && header(&r, "content-range")
                .is_some_and(|c| c.starts_with(&format!("bytes {have}-")));
        if !resumed {
            have = 0;
        }
        break Some(r);
    };
    if let Some(mut r) = resp {
        let body_len = header(&r, "content-length").and_then(|s| s.parse::<u64>().ok());
        let total = size.or(body_len.map(|b| b + have));
        let mut file = OpenOptions::new()
            .create(true)
            .append(have > 0)
            .write(true)
            .truncate(have == 0)
            .open(part)
            .map_err(io(part))?;
        let bar = progress(hub, url, dest, total, have);
        let mut reader = r.body_mut().as_reader();
        let mut buf = vec![0u8; 1 << 20];
        let mut got = have;
        let interrupted = |got: u64, reason: String| HubError::Interrupted {
            url: url.to_owned(),
            got,
            expected: total.map_or_else(|| "?".into(), |t| t.to_string()),
            reason,
            partial: part.to_owned(),
        };
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    let _ = file.sync_all();
                    bar.abandon();
                    return Err(interrupted(got, e.to_string()));
                }
            };
            file.write_all(&buf[..n]).map_err(io(part))?;
            got += n as u64;
            bar.set_position(got);
        }
        file.sync_all().map_err(io(part))?;
        bar.finish_and_clear();
        if let Some(t) = total
            && got != t
        {
            return Err(interrupted(got, "the connection closed early".into()));
        }
    }
    match expect.check(part).map_err(io(part))? {
        Ok(()) => std::fs::rename(part, dest).map_err(io(dest)),
        Err(got) => {
            let _ = std::fs::remove_file(part);
            Err(HubError::Hash {
                url: url.to_owned(),
                algorithm: expect.algorithm(),
                expected: expect.expected().to_owned(),
                got,
                cache: dir.to_owned(),
            })
        }
    }
}

/// A byte progress bar on stderr (indicatif hides it when stderr is not a terminal), after a
/// one-line note of what is downloaded where.
fn progress(
    hub: &Hub,
    url: &str,
    dest: &Path,
    total: Option<u64>,
    have: u64,
) -> indicatif::ProgressBar {
    if !hub.progress {
        return indicatif::ProgressBar::hidden();
    }
    let size = total.map_or_else(|| "size unknown".into(), mb);
    let resume = if have > 0 {
        format!(", resuming at {}", mb(have))
    } else {
        String::new()
    };
    eprintln!(
        "downloading {url} ({size}{resume})\n         to {}",
        dest.display()
    );
    let bar = match total {
        Some(t) => indicatif::ProgressBar::new(t),
        None => indicatif::ProgressBar::new_spinner(),
    };
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "  [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_position(have);
    bar
}

/// Feeds everything `r` yields into `h` (1 MiB at a time) and returns the digest.
fn digest_reader<D: Digest>(mut h: D, r: &mut impl Read) -> Result<Vec<u8>, std::io::Error> {
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(h.finalize().to_vec());
        }
        h.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// torch.hub's HASH_REGEX on torchvision's names.
    #[test]
    fn hash_prefixes_as_torch_hub_reads_them() {
        assert_eq!(hash_prefix("resnet50-11ad3fa6.pth"), Some("11ad3fa6"));
        assert_eq!(
            hash_prefix("wide_resnet50_2-95faca4d.pth"),
            Some("95faca4d")
        );
        assert_eq!(hash_prefix("resnet50.pth"), None);
        assert_eq!(hash_prefix("my-model-v2.pth"), None);
    }

    #[test]
    fn etags_and_origins() {
        assert_eq!(normalize_etag("W/\"abc\""), "abc");
        assert_eq!(normalize_etag("\"abc\""), "abc");
        assert_eq!(
            origin("https://huggingface.co/timm/x/resolve/main/f"),
            "https://huggingface.co"
        );
        assert_eq!(origin("http://127.0.0.1:9/a"), "http://127.0.0.1:9");
    }

    /// The git blob hash is git's: `printf 'hello\n' | git hash-object --stdin`.
    #[test]
    fn git_blob_sha1_is_gits() {
        let dir = std::env::temp_dir().join(format!("shadercam-hub-sha1-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("hello");
        std::fs::write(&f, "hello\n").unwrap();
        let e = Expect::GitSha1("ce013625030ba8dba906f756967f9e9ca394464a".into());
        assert_eq!(e.check(&f).unwrap(), Ok(()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
