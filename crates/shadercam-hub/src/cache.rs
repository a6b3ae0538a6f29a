//! The Hugging Face Hub's local cache layout, as its reference describes it
//! (<https://huggingface.co/docs/hub/local-cache>) and `huggingface_hub` writes it:
//!
//! ```text
//! <cache>/models--<org>--<name>/
//!     blobs/<etag>                     file contents, named by sha256 (LFS) or git sha1
//!     blobs/<etag>.incomplete          a download in progress (this crate and huggingface_hub)
//!     refs/main                        the commit `main` pointed to when last downloaded
//!     snapshots/<commit>/<file>        relative symlink -> ../../blobs/<etag>
//! ```
//!
//! Looking a file up reads `refs/main` and checks `snapshots/<commit>/<file>`: no network.

use crate::HubError;
use std::path::{Path, PathBuf};

/// `models--{repo with / replaced by --}`: the folder of a model repository.
pub fn repo_folder(repo: &str) -> String {
    format!("models--{}", repo.replace('/', "--"))
}

/// One repository's folder in the hub cache.
#[derive(Clone, Debug)]
pub struct HubCache {
    /// `<cache>/models--<org>--<name>`.
    pub dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HubError + '_ {
    move |source| HubError::Io {
        path: path.to_owned(),
        source,
    }
}

impl HubCache {
    pub fn new(cache: &Path, repo: &str) -> Self {
        Self {
            dir: cache.join(repo_folder(repo)),
        }
    }

    /// The commit `refs/main` names, if any.
    pub fn main_commit(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.dir.join("refs").join("main")).ok()?;
        let c = text.trim();
        (!c.is_empty() && !c.contains(['/', '\\', '.'])).then(|| c.to_owned())
    }

    /// `snapshots/<commit>/<file>`.
    pub fn pointer(&self, commit: &str, file: &str) -> PathBuf {
        self.dir.join("snapshots").join(commit).join(file)
    }

    /// `blobs/<etag>`.
    pub fn blob(&self, etag: &str) -> PathBuf {
        self.dir.join("blobs").join(etag)
    }

    /// `blobs/<etag>.incomplete`.
    pub fn incomplete(&self, etag: &str) -> PathBuf {
        self.dir.join("blobs").join(format!("{etag}.incomplete"))
    }

    /// The cached file at `refs/main`, if it is there (a snapshot entry that resolves to a file).
    pub fn cached(&self, file: &str) -> Option<PathBuf> {
        let p = self.pointer(&self.main_commit()?, file);
        p.is_file().then_some(p)
    }

    /// Where `file` of the current `main` would be, for messages: its snapshot path if `main`
    /// is known, else the repository folder.
    pub fn expected(&self, file: &str) -> PathBuf {
        match self.main_commit() {
            Some(c) => self.pointer(&c, file),
            None => self.dir.clone(),
        }
    }

    /// Records a finished blob: `snapshots/<commit>/<file>` -> `../../blobs/<etag>` (a relative
    /// symlink; a copy where symlinks are unavailable, as huggingface_hub's degraded mode on
    /// Windows), then `refs/main` = `commit`. Returns the snapshot path.
    pub fn link(&self, commit: &str, file: &str, etag: &str) -> Result<PathBuf, HubError> {
        let pointer = self.pointer(commit, file);
        let parent = pointer.parent().expect("snapshot path has a parent");
        std::fs::create_dir_all(parent).map_err(io(parent))?;
        let blob = self.blob(etag);
        // `file` may hold folders (`sub/model.safetensors`): one `..` per level.
        let depth = 2 + file.matches('/').count();
        let mut target = PathBuf::new();
        for _ in 0..depth {
            target.push("..");
        }
        target.push("blobs");
        target.push(etag);
        let _ = std::fs::remove_file(&pointer);
        #[cfg(unix)]
        let linked = std::os::unix::fs::symlink(&target, &pointer);
        #[cfg(not(unix))]
        let linked: std::io::Result<()> = Err(std::io::ErrorKind::Unsupported.into());
        if linked.is_err() {
            std::fs::copy(&blob, &pointer).map_err(io(&pointer))?;
        }
        let refs = self.dir.join("refs");
        std::fs::create_dir_all(&refs).map_err(io(&refs))?;
        let main = refs.join("main");
        std::fs::write(&main, commit).map_err(io(&main))?;
        Ok(pointer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_follow_the_hub_reference() {
        // The reference's own examples.
        assert_eq!(
            repo_folder("julien-c/EsperBERTo-small"),
            "models--julien-c--EsperBERTo-small"
        );
        assert_eq!(
            repo_folder("timm/resnet50.tv2_in1k"),
            "models--timm--resnet50.tv2_in1k"
        );
    }
}
