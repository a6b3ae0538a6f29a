//! A safetensors file as named f32 tensors plus its header metadata.

use crate::LoadError;
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// A dense row-major f32 tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Tensor {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        assert_eq!(
            shape.iter().product::<usize>(),
            data.len(),
            "tensor shape/data mismatch"
        );
        Self { shape, data }
    }
}

/// All float tensors of one checkpoint, converted to f32, and its `__metadata__`.
#[derive(Debug)]
pub struct Checkpoint {
    pub path: PathBuf,
    pub tensors: BTreeMap<String, Tensor>,
    pub metadata: HashMap<String, String>,
}

/// The file name of a sharded checkpoint's index (Hugging Face's convention).
pub const SHARD_INDEX: &str = "model.safetensors.index.json";

impl Checkpoint {
    /// Reads and converts every tensor. `num_batches_tracked` counters (integers in PyTorch
    /// checkpoints, meaningless for inference) are skipped; any other non-float tensor is an error.
    ///
    /// `path` may be a `.safetensors` file, a PyTorch checkpoint written by `torch.save`
    /// (`.pth`, `.pt`, `.bin`; see [`crate::pth`]), a sharded checkpoint's index
    /// (`model.safetensors.index.json`, see [`Checkpoint::open_sharded`]), or a directory holding
    /// one (a Hugging Face download): the index if there is one, else `model.safetensors`,
    /// else the only `.safetensors` file in it, else `pytorch_model.bin`.
    pub fn open(path: &Path) -> Result<Self, LoadError> {
        if path.is_dir() {
            return Self::open(&resolve_dir(path)?);
        }
        if path.extension().is_some_and(|e| e == "json") {
            return Self::open_sharded(path);
        }
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_bytes(path, &bytes)
    }

    /// Reads a sharded checkpoint: an index JSON whose `weight_map` maps each tensor name to a
    /// shard file (relative to the index), as `transformers`' `save_pretrained` writes it.
    /// Metadata is the first shard's `__metadata__` overlaid with the index's `metadata` (string
    /// values as they are, other JSON values as their JSON text). Errors name the index, or the
    /// shard a bad tensor is in; [`Checkpoint::path`] is the index.
    pub fn open_sharded(index: &Path) -> Result<Self, LoadError> {
        let bad = |reason: String| LoadError::Format {
            path: index.to_owned(),
            reason,
        };
        let text = std::fs::read_to_string(index).map_err(|source| LoadError::Io {
            path: index.to_owned(),
            source,
        })?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| bad(format!("not a shard index: invalid JSON ({e})")))?;
        let map = json
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| {
                bad("not a shard index: no `weight_map` object (tensor name -> shard file)".into())
            })?;
        let mut shards: Vec<&str> = Vec::new();
        for (name, file) in map {
            let file = file.as_str().ok_or_else(|| {
                bad(format!(
                    "`weight_map` entry for `{name}` is {file}, not a file name"
                ))
            })?;
            if !shards.contains(&file) {
                shards.push(file);
            }
        }
        if shards.is_empty() {
            return Err(bad("`weight_map` is empty".into()));
        }
        shards.sort_unstable();
        let dir = index.parent().unwrap_or(Path::new("."));
        let mut tensors = BTreeMap::new();
        let mut metadata = HashMap::new();
        for (i, shard) in shards.iter().enumerate() {
            let part = Self::open(&dir.join(shard))?;
            if i == 0 {
                metadata = part.metadata;
            }
            for (name, t) in part.tensors {
                if tensors.insert(name.clone(), t).is_some() {
                    return Err(bad(format!(
                        "tensor `{name}` is stored in more than one shard"
                    )));
                }
            }
        }
        for (name, file) in map {
            if !name.ends_with("num_batches_tracked") && !tensors.contains_key(name) {
                return Err(bad(format!(
                    "`weight_map` puts `{name}` in {file}, which has no such tensor"
                )));
            }
        }
        if let Some(meta) = json.get("metadata").and_then(|m| m.as_object()) {
            for (k, v) in meta {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                metadata.insert(k.clone(), v);
            }
        }
        Ok(Self {
            path: index.to_owned(),
            tensors,
            metadata,
        })
    }

    /// Same as [`Checkpoint::open`] on bytes already in memory; `path` is used in messages.
    /// A PyTorch `torch.save` file (recognised by its bytes, whatever its extension) is read by
    /// [`crate::pth`]; anything else must be safetensors.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self, LoadError> {
        if crate::pth::is_pytorch(bytes) {
            return crate::pth::read(path, bytes);
        }
        if path
            .extension()
            .is_some_and(|e| e == "pth" || e == "pt" || e == "bin")
        {
            return Err(LoadError::Pytorch {
                path: path.to_owned(),
                reason: "not a zip archive, which torch.save (PyTorch >= 1.6) writes".into(),
            });
        }
        let format = |e: safetensors::SafeTensorError| LoadError::Format {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(format)?;
        let metadata = header.metadata().clone().unwrap_or_default();
        let st = SafeTensors::deserialize(bytes).map_err(format)?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            if name.ends_with("num_batches_tracked") {
                continue;
            }
            let data = to_f32(view.dtype(), view.data()).ok_or_else(|| LoadError::Dtype {
                path: path.to_owned(),
                name: name.clone(),
                dtype: format!("{:?}", view.dtype()),
            })?;
            check_finite(path, &name, &data)?;
            tensors.insert(name, Tensor::new(view.shape().to_vec(), data));
        }
        Ok(Self {
            path: path.to_owned(),
            tensors,
            metadata,
        })
    }

    /// The tensor `name`, checked against `expected`; errors name the file, tensor and both shapes.
    pub fn get(&self, name: &str, expected: &[usize]) -> Result<&Tensor, LoadError> {
        let t = self.tensors.get(name).ok_or_else(|| LoadError::Missing {
            path: self.path.clone(),
            name: name.to_owned(),
            expected: expected.to_vec(),
        })?;
        if t.shape != expected {
            return Err(LoadError::Shape {
                path: self.path.clone(),
                name: name.to_owned(),
                expected: expected.to_vec(),
                got: t.shape.clone(),
            });
        }
        Ok(t)
    }

    /// The shape of `name`, if the checkpoint holds it.
    pub fn shape_of(&self, name: &str) -> Option<&[usize]> {
        self.tensors.get(name).map(|t| t.shape.as_slice())
    }
}

/// The checkpoint inside a directory: the shard index, `model.safetensors`, or the only
/// `.safetensors` file.
fn resolve_dir(dir: &Path) -> Result<PathBuf, LoadError> {
    for name in [SHARD_INDEX, "model.safetensors"] {
        if dir.join(name).is_file() {
            return Ok(dir.join(name));
        }
    }
    let entries = std::fs::read_dir(dir).map_err(|source| LoadError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    found.sort();
    if found.len() == 1 {
        return Ok(found.remove(0));
    }
    if found.is_empty() && dir.join("pytorch_model.bin").is_file() {
        return Ok(dir.join("pytorch_model.bin"));
    }
    Err(LoadError::Format {
        path: dir.to_owned(),
        reason: format!(
            "directory has no {SHARD_INDEX} or model.safetensors and {} `.safetensors` files {found:?}; \
             pass the checkpoint file itself",
            found.len()
        ),
    })
}

/// Little-endian F32/F16/BF16 bytes to f32; `None` for any other dtype.
fn to_f32(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    match dtype {
        Dtype::F32 => Some(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        Dtype::F16 => Some(
            bytes
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
        ),
        Dtype::BF16 => Some(
            bytes
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
        ),
        _ => None,
    }
}

/// A NaN or infinite weight is an error naming the file, the tensor and the first bad index
/// (every reader, safetensors or `.pth`, checks its tensors with this).
pub(crate) fn check_finite(path: &Path, name: &str, data: &[f32]) -> Result<(), LoadError> {
    match data.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        Some((index, &value)) => Err(LoadError::NonFinite {
            path: path.to_owned(),
            name: name.to_owned(),
            index,
            value,
        }),
        None => Ok(()),
    }
}
