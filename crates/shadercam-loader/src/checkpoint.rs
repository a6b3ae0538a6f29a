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
        assert_eq!(shape.iter().product::<usize>(), data.len(), "tensor shape/data mismatch");
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

impl Checkpoint {
    /// Reads and converts every tensor. `num_batches_tracked` counters (integers in PyTorch
    /// checkpoints, meaningless for inference) are skipped; any other non-float tensor is an error.
    pub fn open(path: &Path) -> Result<Self, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_bytes(path, &bytes)
    }

    /// Same as [`Checkpoint::open`] on bytes already in memory; `path` is used in messages.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self, LoadError> {
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
            if let Some((index, &value)) = data.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(LoadError::NonFinite {
                    path: path.to_owned(),
                    name,
                    index,
                    value,
                });
            }
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

    /// The shape of `name`, or a `Missing` error mentioning `what` is needed.
    pub fn shape_of(&self, name: &str) -> Option<&[usize]> {
        self.tensors.get(name).map(|t| t.shape.as_slice())
    }
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
