//! Getting published checkpoints: `--model resnet50` becomes a file on disk, downloaded once.
//!
//! The only crate of shadercam that touches the network; the loader reads files and never
//! downloads. Two sources, both with the caches their own Python tools use, so that weights a
//! user already has are found and nothing is fetched twice:
//!
//! - **The Hugging Face Hub** (preferred: safetensors, no pickles). Files are
//!   `{HF_ENDPOINT}/{repo}/resolve/main/{file}` and land in the hub cache
//!   (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`) in the layout of
//!   the hub's "local cache" reference (<https://huggingface.co/docs/hub/local-cache>):
//!   `models--{org}--{name}/blobs/{etag}`, `snapshots/{commit}/{file}` as a relative symlink to
//!   the blob, `refs/main` holding the commit. As `huggingface_hub`'s `hf_hub_download` does, a
//!   `HEAD` request without following redirects gives the commit (`X-Repo-Commit`), the etag
//!   (`X-Linked-Etag`, else `ETag`: the sha256 of an LFS file, the git blob sha1 of a small
//!   one), the size (`X-Linked-Size`, else `Content-Length`) and where to download
//!   (`Location`); the body goes to `blobs/{etag}.incomplete` and is renamed only after its hash
//!   matches the etag.
//! - **torchvision's own files** (fallback), `https://download.pytorch.org/models/<arch>-<hash>.pth`,
//!   in torch.hub's cache (`$TORCH_HOME/hub/checkpoints`, else
//!   `~/.cache/torch/hub/checkpoints`). As `torch.hub.load_state_dict_from_url(check_hash=True)`
//!   does, the sha256 of the download must start with the hex digits after the last `-` of the
//!   file name.
//!
//! A cached file is used without any network access. An interrupted download leaves only a
//! `*.incomplete` file, which the next run resumes with a `Range` request; a file whose hash
//! does not match is deleted. Every error names the URL and the cache path.
//!
//! Environment, read by [`Hub::from_env`] with the Python client's names: `HF_ENDPOINT`,
//! `HF_HOME`, `HF_HUB_CACHE`, `XDG_CACHE_HOME`, `HF_HUB_OFFLINE`, `HF_TOKEN`,
//! `HF_HUB_ETAG_TIMEOUT` and `HF_HUB_DOWNLOAD_TIMEOUT` (seconds, default 10), `TORCH_HOME`;
//! plus `SHADERCAM_TORCH_MIRROR`, a base URL that replaces `https://download.pytorch.org/models`.

mod cache;
mod download;
#[cfg(feature = "testing")]
pub mod testing;

pub use cache::{HubCache, repo_folder};

use shadercam_loader::models::{HUB_CONFIG, HUB_FILE, ModelSpec};
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// Where torchvision's files are published.
pub const TORCHVISION_BASE: &str = "https://download.pytorch.org/models";
/// The Hugging Face Hub.
pub const HF_DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Everything that can go wrong getting a file. Every message names the URL and where the file
/// would be cached, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(
        "{url}: not cached at {cache}, and HF_HUB_OFFLINE is set; unset it to download, or pass --weights FILE"
    )]
    Offline { url: String, cache: PathBuf },
    #[error(
        "cannot reach {url}: {reason}; the file is not cached at {cache}. Without network, download it on another \
         machine and pass --weights FILE"
    )]
    Network {
        url: String,
        reason: String,
        cache: PathBuf,
    },
    #[error("{url}: HTTP {status}{detail}; nothing was written to {cache}")]
    Status {
        url: String,
        status: u16,
        detail: String,
        cache: PathBuf,
    },
    #[error(
        "{url}: the server's answer is not the hub's ({reason}); nothing was written to {cache}"
    )]
    Metadata {
        url: String,
        reason: String,
        cache: PathBuf,
    },
    #[error(
        "{url}: the download's {algorithm} is {got}, but the source publishes {expected}; the file was deleted \
         and nothing was cached in {cache}"
    )]
    Hash {
        url: String,
        algorithm: &'static str,
        expected: String,
        got: String,
        cache: PathBuf,
    },
    #[error(
        "{url}: the download stopped after {got} of {expected} bytes ({reason}); the part is kept at {partial} \
         and the next run resumes it"
    )]
    Interrupted {
        url: String,
        got: u64,
        expected: String,
        reason: String,
        partial: PathBuf,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Every source of a model failed; each attempt's error, in order.
    #[error("{model}: no source worked:\n{}", .attempts.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    AllFailed {
        model: String,
        attempts: Vec<HubError>,
    },
}

/// Download settings and cache locations, normally from the environment ([`Hub::from_env`]).
#[derive(Clone, Debug)]
pub struct Hub {
    /// Hub endpoint without a trailing `/` (`HF_ENDPOINT`).
    pub endpoint: String,
    /// The hub cache (`HF_HUB_CACHE`, `HF_HOME/hub`, ...).
    pub cache: PathBuf,
    /// torch.hub's checkpoint folder (`TORCH_HOME/hub/checkpoints`).
    pub torch_checkpoints: PathBuf,
    /// Replaces [`TORCHVISION_BASE`] in torchvision URLs (`SHADERCAM_TORCH_MIRROR`).
    pub torch_base: String,
    /// No network at all (`HF_HUB_OFFLINE`).
    pub offline: bool,
    /// Bearer token for the hub (`HF_TOKEN`), sent to the endpoint only, never to a CDN.
    pub token: Option<String>,
    /// Longest wait for the metadata request (`HF_HUB_ETAG_TIMEOUT`).
    pub etag_timeout: Duration,
    /// Longest wait for any read of a download (`HF_HUB_DOWNLOAD_TIMEOUT`).
    pub download_timeout: Duration,
    /// Draw a progress bar on stderr (hidden anyway when stderr is not a terminal).
    pub progress: bool,
}

impl Hub {
    /// Settings from the process environment.
    pub fn from_env() -> Self {
        Self::from_vars(|k| std::env::var_os(k))
    }

    /// Settings from `var` (an environment lookup), so tests need not change the process's.
    pub fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> Self {
        let get = |k: &str| var(k).filter(|v| !v.is_empty());
        let path = |k: &str| get(k).map(PathBuf::from);
        let home = path("HOME")
            .or_else(|| path("USERPROFILE"))
            .unwrap_or_else(|| PathBuf::from("."));
        let xdg_cache = path("XDG_CACHE_HOME").unwrap_or_else(|| home.join(".cache"));
        let hf_home = path("HF_HOME").unwrap_or_else(|| xdg_cache.join("huggingface"));
        let cache = path("HF_HUB_CACHE").unwrap_or_else(|| hf_home.join("hub"));
        let torch_home = path("TORCH_HOME").unwrap_or_else(|| xdg_cache.join("torch"));
        let text = |k: &str| get(k).map(|v| v.to_string_lossy().into_owned());
        let seconds = |k: &str| {
            let s = text(k).and_then(|v| v.trim().parse::<f64>().ok());
            Duration::from_secs_f64(s.filter(|s| *s > 0.0 && s.is_finite()).unwrap_or(10.0))
        };
        let truthy = |k: &str| {
            text(k).is_some_and(|v| {
                matches!(
                    v.trim().to_ascii_uppercase().as_str(),
                    "1" | "ON" | "YES" | "TRUE"
                )
            })
        };
        Self {
            endpoint: text("HF_ENDPOINT")
                .unwrap_or_else(|| HF_DEFAULT_ENDPOINT.into())
                .trim_end_matches('/')
                .to_owned(),
            cache,
            torch_checkpoints: torch_home.join("hub").join("checkpoints"),
            torch_base: text("SHADERCAM_TORCH_MIRROR")
                .unwrap_or_else(|| TORCHVISION_BASE.into())
                .trim_end_matches('/')
                .to_owned(),
            offline: truthy("HF_HUB_OFFLINE"),
            token: text("HF_TOKEN"),
            etag_timeout: seconds("HF_HUB_ETAG_TIMEOUT"),
            download_timeout: seconds("HF_HUB_DOWNLOAD_TIMEOUT"),
            progress: true,
        }
    }

    /// The cache of one hub repository.
    pub fn repo(&self, repo: &str) -> HubCache {
        HubCache::new(&self.cache, repo)
    }

    /// `{endpoint}/{repo}/resolve/main/{file}`.
    pub fn hub_url(&self, repo: &str, file: &str) -> String {
        format!("{}/{repo}/resolve/main/{file}", self.endpoint)
    }

    /// A hub file: from the cache if it is there (no network), else downloaded into it.
    pub fn hub_file(&self, repo: &str, file: &str) -> Result<PathBuf, HubError> {
        let cache = self.repo(repo);
        if let Some(p) = cache.cached(file) {
            return Ok(p);
        }
        download::hub_file(self, &cache, repo, file)
    }

    /// A torchvision URL with the mirror applied.
    pub fn torch_url(&self, url: &str) -> String {
        match url.strip_prefix(TORCHVISION_BASE) {
            Some(rest) => format!("{}{rest}", self.torch_base),
            None => url.to_owned(),
        }
    }

    /// Where torch.hub keeps the file of `url`.
    pub fn torch_path(&self, url: &str) -> PathBuf {
        let name = url.rsplit_once('/').map_or(url, |(_, f)| f);
        self.torch_checkpoints.join(name)
    }

    /// A file named `<name>-<sha256 prefix>.<ext>` (torch.hub's rule): from torch.hub's cache,
    /// else downloaded into it and checked against the prefix.
    pub fn torch_file(&self, url: &str) -> Result<PathBuf, HubError> {
        let dest = self.torch_path(url);
        if dest.is_file() {
            return Ok(dest);
        }
        download::torch_file(self, &self.torch_url(url), &dest)
    }

    /// Whether `spec` is already on disk, and where (no network).
    pub fn cached_model(&self, spec: &ModelSpec) -> Option<Fetched> {
        let cache = self.repo(spec.hub_repo);
        if let Some(weights) = cache.cached(HUB_FILE) {
            return Some(Fetched {
                weights,
                config: cache.cached(HUB_CONFIG),
                source: self.hub_url(spec.hub_repo, HUB_FILE),
            });
        }
        let torch = self.torch_path(spec.torchvision_url);
        torch.is_file().then(|| Fetched {
            weights: torch,
            config: None,
            source: spec.torchvision_url.to_owned(),
        })
    }

    /// The checkpoint of `spec`: cached (hub cache, then torch.hub's), else downloaded from the
    /// hub, else from torchvision. The hub's `config.json` (preprocessing) is fetched beside the
    /// weights when the hub has it; its absence is not an error.
    pub fn fetch_model(&self, spec: &ModelSpec) -> Result<Fetched, HubError> {
        if let Some(f) = self.cached_model(spec) {
            return Ok(f);
        }
        let mut attempts = Vec::new();
        match self.hub_file(spec.hub_repo, HUB_FILE) {
            Ok(weights) => {
                let config = self.hub_file(spec.hub_repo, HUB_CONFIG).ok();
                return Ok(Fetched {
                    weights,
                    config,
                    source: self.hub_url(spec.hub_repo, HUB_FILE),
                });
            }
            Err(e) => attempts.push(e),
        }
        match self.torch_file(spec.torchvision_url) {
            Ok(weights) => Ok(Fetched {
                weights,
                config: None,
                source: self.torch_url(spec.torchvision_url),
            }),
            Err(e) => {
                attempts.push(e);
                Err(HubError::AllFailed {
                    model: spec.name.to_owned(),
                    attempts,
                })
            }
        }
    }
}

/// A model's files on disk.
#[derive(Clone, Debug, PartialEq)]
pub struct Fetched {
    /// The checkpoint (`model.safetensors` in a hub snapshot, or torchvision's `.pth`).
    pub weights: PathBuf,
    /// The hub's `config.json` beside it, when there is one.
    pub config: Option<PathBuf>,
    /// The URL it came from.
    pub source: String,
}

/// Size in MB for messages.
pub(crate) fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
