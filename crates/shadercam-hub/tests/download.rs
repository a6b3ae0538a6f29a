//! Downloads against a local server in the hub's URL layout (`shadercam_hub::testing`), so no
//! test touches the network: first download, cache hit, corrupted download, interrupted and
//! resumed download, 404, a server that never answers, torchvision's hash-prefix rule, the
//! fallback from hub to torchvision, and the environment variables.

use shadercam_hub::testing::{COMMIT, TestServer, sha256_hex};
use shadercam_hub::{Hub, HubError};
use shadercam_loader::models;
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const REPO: &str = "timm/resnet18.tv_in1k";

/// A fresh, empty cache folder for one test.
fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("shadercam-hub-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A hub client on `server`, caching under `dir`, with short timeouts.
fn hub(server: &TestServer, dir: &Path) -> Hub {
    let vars: HashMap<&str, OsString> = [
        ("HF_ENDPOINT", server.url.clone().into()),
        ("HF_HOME", dir.join("hf").into()),
        ("TORCH_HOME", dir.join("torch").into()),
        (
            "SHADERCAM_TORCH_MIRROR",
            format!("{}/models", server.url).into(),
        ),
        ("HF_HUB_ETAG_TIMEOUT", "1".into()),
        ("HF_HUB_DOWNLOAD_TIMEOUT", "1".into()),
    ]
    .into_iter()
    .collect();
    let mut h = Hub::from_vars(|k| vars.get(k).cloned());
    h.progress = false;
    h
}

/// Deterministic bytes that stand in for a checkpoint.
fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

/// Every file under `dir`, relative, sorted (to assert what a failure left behind).
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn first_download_lands_in_the_hub_cache_layout_then_hits_the_cache() {
    let server = TestServer::start();
    let dir = temp("first");
    let data = payload(300_000);
    let sha = sha256_hex(&data);
    server.add_hub_file(REPO, "model.safetensors", &data, true);
    let hub = hub(&server, &dir);

    let path = hub.hub_file(REPO, "model.safetensors").unwrap();
    let repo_dir = dir.join("hf/hub/models--timm--resnet18.tv_in1k");
    assert_eq!(
        path,
        repo_dir.join(format!("snapshots/{COMMIT}/model.safetensors"))
    );
    assert_eq!(std::fs::read(&path).unwrap(), data);
    // The layout of https://huggingface.co/docs/hub/local-cache: a relative symlink to the
    // blob named by its sha256, and refs/main.
    assert_eq!(
        std::fs::read_link(&path).unwrap(),
        PathBuf::from(format!("../../blobs/{sha}"))
    );
    assert_eq!(
        std::fs::read_to_string(repo_dir.join("refs/main")).unwrap(),
        COMMIT
    );
    assert_eq!(
        files(&repo_dir),
        [
            format!("blobs/{sha}"),
            "refs/main".into(),
            format!("snapshots/{COMMIT}/model.safetensors")
        ]
    );
    let reqs = server.requests();
    assert_eq!(
        reqs,
        [
            format!("HEAD /{REPO}/resolve/main/model.safetensors"),
            format!("GET /cdn/{sha}")
        ]
    );

    // Cache hit: no request at all, even with the server gone.
    drop(server);
    let again = hub.hub_file(REPO, "model.safetensors").unwrap();
    assert_eq!(again, path);
}

/// A small (non-LFS) file's etag is its git blob sha1; it is checked too.
#[test]
fn small_git_files_are_checked_against_their_git_sha1() {
    let server = TestServer::start();
    let dir = temp("git");
    server.add_hub_file(
        REPO,
        "config.json",
        b"{\"architecture\": \"resnet18\"}",
        false,
    );
    let hub = hub(&server, &dir);
    let p = hub.hub_file(REPO, "config.json").unwrap();
    assert_eq!(
        std::fs::read(p).unwrap(),
        b"{\"architecture\": \"resnet18\"}"
    );

    let dir2 = temp("git-bad");
    server.corrupt(&format!("/{REPO}/resolve/main/config.json"));
    let e = self::hub(&server, &dir2)
        .hub_file(REPO, "config.json")
        .unwrap_err();
    assert!(
        matches!(e, HubError::Hash { algorithm, .. } if algorithm == "git blob sha1"),
        "{e}"
    );
}

#[test]
fn a_corrupted_download_is_refused_and_leaves_nothing() {
    let server = TestServer::start();
    let dir = temp("corrupt");
    let data = payload(100_000);
    let sha = sha256_hex(&data);
    server.add_hub_file(REPO, "model.safetensors", &data, true);
    server.corrupt(&format!("/cdn/{sha}"));
    let e = hub(&server, &dir)
        .hub_file(REPO, "model.safetensors")
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, HubError::Hash { .. }), "{msg}");
    assert!(
        msg.contains(&format!("{}/cdn/{sha}", server.url))
            && msg.contains(&sha)
            && msg.contains("deleted"),
        "{msg}"
    );
    let repo_dir = dir.join("hf/hub/models--timm--resnet18.tv_in1k");
    assert!(
        files(&repo_dir).is_empty(),
        "left behind: {:?}",
        files(&repo_dir)
    );
}

#[test]
fn an_interrupted_download_looks_incomplete_and_resumes() {
    let server = TestServer::start();
    let dir = temp("cut");
    let data = payload(200_000);
    let sha = sha256_hex(&data);
    server.add_hub_file(REPO, "model.safetensors", &data, true);
    server.cut_next(&format!("/cdn/{sha}"), 70_000);
    let hub = hub(&server, &dir);
    let e = hub.hub_file(REPO, "model.safetensors").unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, HubError::Interrupted { .. }), "{msg}");
    assert!(
        msg.contains("of 200000 bytes") && msg.contains(".incomplete"),
        "{msg}"
    );
    let repo_dir = dir.join("hf/hub/models--timm--resnet18.tv_in1k");
    // Only the part, under a name that cannot be mistaken for the file: no blob, no snapshot.
    assert_eq!(files(&repo_dir), [format!("blobs/{sha}.incomplete")]);
    let part = std::fs::metadata(repo_dir.join(format!("blobs/{sha}.incomplete")))
        .unwrap()
        .len();
    assert!(part > 0 && part < 200_000, "{part}");

    // The next run asks for the rest only.
    let path = hub.hub_file(REPO, "model.safetensors").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), data);
    let last = server.requests().last().cloned().unwrap();
    assert_eq!(last, format!("GET /cdn/{sha} range=bytes={part}-"));
}

#[test]
fn a_missing_file_is_a_404_naming_url_and_cache() {
    let server = TestServer::start();
    let dir = temp("404");
    let e = hub(&server, &dir)
        .hub_file("timm/no-such-model", "model.safetensors")
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, HubError::Status { status: 404, .. }), "{msg}");
    assert!(
        msg.contains(&format!(
            "{}/timm/no-such-model/resolve/main/model.safetensors",
            server.url
        )) && msg.contains("RepoNotFound")
            && msg.contains("models--timm--no-such-model"),
        "{msg}"
    );
}

#[test]
fn a_server_that_never_answers_times_out_with_a_clear_message() {
    let server = TestServer::start();
    server.silent(true);
    let dir = temp("silent");
    let start = Instant::now();
    let e = hub(&server, &dir)
        .hub_file(REPO, "model.safetensors")
        .unwrap_err();
    let took = start.elapsed();
    let msg = e.to_string();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(
        msg.contains("cannot reach")
            && msg.contains(&server.url)
            && msg.contains("no answer within 1 s")
            && msg.contains("HF_HUB_ETAG_TIMEOUT")
            && msg.contains("models--timm--resnet18.tv_in1k")
            && msg.contains("--weights"),
        "{msg}"
    );
}

#[test]
fn offline_mode_never_connects() {
    let server = TestServer::start();
    let dir = temp("offline");
    let mut hub = hub(&server, &dir);
    hub.offline = true;
    let msg = hub
        .hub_file(REPO, "model.safetensors")
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("HF_HUB_OFFLINE") && msg.contains("resolve/main/model.safetensors"),
        "{msg}"
    );
    assert!(server.requests().is_empty());
}

/// torch.hub's rule: the sha256 of `name-<prefix>.pth` starts with `<prefix>`.
#[test]
fn torchvision_files_are_checked_against_the_hash_in_their_name() {
    let server = TestServer::start();
    let dir = temp("torch");
    let data = payload(50_000);
    let good = format!("resnet18-{}.pth", &sha256_hex(&data)[..8]);
    server.add_file(&format!("/models/{good}"), &data);
    let hub = hub(&server, &dir);
    let url = format!("https://download.pytorch.org/models/{good}");
    let p = hub.torch_file(&url).unwrap();
    assert_eq!(p, dir.join("torch/hub/checkpoints").join(&good));
    assert_eq!(std::fs::read(&p).unwrap(), data);

    let bad = "resnet18-00000000.pth";
    server.add_file(&format!("/models/{bad}"), &data);
    let msg = hub
        .torch_file(&format!("https://download.pytorch.org/models/{bad}"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("00000000") && msg.contains("deleted"), "{msg}");
    assert!(!dir.join("torch/hub/checkpoints").join(bad).exists());
    assert!(
        !dir.join("torch/hub/checkpoints")
            .join(format!("{bad}.incomplete"))
            .exists()
    );
}

/// `fetch_model` tries the hub, then torchvision, and reports both when both fail.
#[test]
fn models_fall_back_from_hub_to_torchvision_and_report_every_attempt() {
    let server = TestServer::start();
    let dir = temp("fallback");
    let spec = models::find("resnet18").unwrap();
    // The hub has no such repository; torchvision's URL serves bytes whose hash does not
    // start with f37072fd, so it must be refused too.
    server.add_file(&format!("/models/{}", spec.torchvision_file()), b"not it");
    let hub = hub(&server, &dir);
    let e = hub.fetch_model(spec).unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(&e, HubError::AllFailed { attempts, .. } if attempts.len() == 2),
        "{msg}"
    );
    assert!(
        msg.contains("resnet18.tv")
            && msg.contains("timm/resnet18.tv_in1k/resolve/main/model.safetensors")
            && msg.contains(&format!("/models/{}", spec.torchvision_file())),
        "{msg}"
    );
    assert!(hub.cached_model(spec).is_none());

    // With the hub serving the weights and config, both are fetched and then cached.
    let weights = payload(10_000);
    server.add_hub_file(spec.hub_repo, "model.safetensors", &weights, true);
    server.add_hub_file(spec.hub_repo, "config.json", b"{}", false);
    let got = hub.fetch_model(spec).unwrap();
    assert_eq!(std::fs::read(&got.weights).unwrap(), weights);
    assert!(got.config.is_some());
    let before = server.requests().len();
    assert_eq!(hub.fetch_model(spec).unwrap(), got);
    assert_eq!(
        server.requests().len(),
        before,
        "a cached model makes no request"
    );
}

#[test]
fn environment_variables_as_the_python_client_reads_them() {
    let env = |pairs: &[(&str, &str)]| {
        let m: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        Hub::from_vars(move |k| m.get(k).cloned())
    };
    let h = env(&[("HOME", "/home/u")]);
    assert_eq!(h.endpoint, "https://huggingface.co");
    assert_eq!(h.cache, PathBuf::from("/home/u/.cache/huggingface/hub"));
    assert_eq!(
        h.torch_checkpoints,
        PathBuf::from("/home/u/.cache/torch/hub/checkpoints")
    );
    assert_eq!(h.etag_timeout, Duration::from_secs(10));
    assert!(!h.offline);
    let h = env(&[("HOME", "/home/u"), ("XDG_CACHE_HOME", "/xdg")]);
    assert_eq!(h.cache, PathBuf::from("/xdg/huggingface/hub"));
    assert_eq!(
        h.torch_checkpoints,
        PathBuf::from("/xdg/torch/hub/checkpoints")
    );
    let h = env(&[
        ("HF_HOME", "/hf"),
        ("HF_ENDPOINT", "http://mirror:8080/"),
        ("HF_HUB_OFFLINE", "1"),
        ("TORCH_HOME", "/t"),
        ("HF_HUB_DOWNLOAD_TIMEOUT", "2.5"),
    ]);
    assert_eq!(h.cache, PathBuf::from("/hf/hub"));
    assert_eq!(h.endpoint, "http://mirror:8080");
    assert!(h.offline);
    assert_eq!(h.torch_checkpoints, PathBuf::from("/t/hub/checkpoints"));
    assert_eq!(h.download_timeout, Duration::from_millis(2500));
    let h = env(&[("HF_HOME", "/hf"), ("HF_HUB_CACHE", "/direct")]);
    assert_eq!(h.cache, PathBuf::from("/direct"));
    assert_eq!(
        h.hub_url("timm/resnet50.tv2_in1k", "model.safetensors"),
        "https://huggingface.co/timm/resnet50.tv2_in1k/resolve/main/model.safetensors"
    );
}
