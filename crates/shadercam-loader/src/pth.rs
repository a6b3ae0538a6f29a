//! PyTorch checkpoints as `torch.save` writes them (`.pth`, `.pt`, `.bin`), read without Python
//! and without running any of the pickle's code.
//!
//! Since PyTorch 1.6 `torch.save` writes a zip archive (uncompressed entries; see PyTorch's
//! `torch/serialization.py` and the "torch.save file format" note in its docs):
//!
//! ```text
//! <archive>/data.pkl        the pickled object; tensors appear as persistent ids
//! <archive>/data/<key>      the raw bytes of one storage, little-endian
//! <archive>/byteorder       "little" or "big" (PyTorch >= 2.1; little when absent)
//! <archive>/version, <archive>/.data/serialization_id, ...
//! ```
//!
//! `data.pkl` is run by the restricted unpickler in [`crate::pickle`], which accepts only the
//! globals a state dict needs. A tensor there is `_rebuild_tensor_v2(storage, offset, size,
//! stride, ...)`: this module reads the storage's zip entry and gathers the elements in
//! row-major order, so views (a slice at an offset, a transpose, `channels_last` weights, an
//! `expand`ed tensor with stride 0) load as the tensor PyTorch would show.
//!
//! The state dict may be the pickled object itself (`torch.save(model.state_dict(), f)`) or an
//! entry of a training checkpoint (`{"state_dict": ...}`, `{"model_state_dict": ...}`,
//! `{"model": ...}`); names may carry a `module.` (DataParallel) or other prefix, which
//! [`crate::Naming::detect`] strips. Float tensors may be f32, f16 or bf16; integer counters
//! (`num_batches_tracked`) are skipped, as for safetensors files.
//!
//! The legacy format of PyTorch < 1.6 (a bare pickle stream followed by raw storages) is
//! recognised and refused with a message that says how to re-save the file: no maintained Rust
//! crate reads it, and PyTorch has written the zip format by default since 2020.

use crate::pickle::{Pickle, PickleError, StorageDtype, TensorRef, Value};
use crate::{Checkpoint, LoadError, Tensor};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::rc::Rc;

/// The first bytes of a zip archive (a local file header).
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// The first bytes of a legacy (PyTorch < 1.6) `torch.save` file: pickle protocol 2, then the
/// integer `0x1950a86a20f9469cfc6c` (`torch.serialization.MAGIC_NUMBER`) as a 10-byte LONG1.
const LEGACY_MAGIC: &[u8] = &[
    0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19,
];

/// Keys under which training scripts store the state dict, tried in this order when the file
/// holds a dict that is not itself a state dict: PyTorch's own examples
/// (`pytorch/examples` imagenet: `state_dict`; the "saving a general checkpoint" tutorial:
/// `model_state_dict`) and common trainers (`model`).
pub const WRAPPER_KEYS: [&str; 3] = ["state_dict", "model_state_dict", "model"];

/// A view may be larger than its storage (stride 0 repeats elements), but not absurdly so: a
/// bound that keeps a crafted file from asking for terabytes (found by reasoning about fuzzing).
const MAX_VIEW_EXPANSION: u64 = 1024;

/// Whether `bytes` look like a `torch.save` file (zip or legacy format).
pub fn is_pytorch(bytes: &[u8]) -> bool {
    bytes.starts_with(ZIP_MAGIC) || bytes.starts_with(LEGACY_MAGIC)
}

/// Reads the state dict in a `torch.save` file already in memory; `path` is used in messages.
pub fn read(path: &Path, bytes: &[u8]) -> Result<Checkpoint, LoadError> {
    let err = |reason: String| LoadError::Pytorch {
        path: path.to_owned(),
        reason,
    };
    if bytes.starts_with(LEGACY_MAGIC) {
        return Err(err(
            "this is the legacy torch.save format of PyTorch < 1.6, which shadercam does not read; \
             re-save it with any recent PyTorch: \
             `torch.save(torch.load(\"old.pth\", weights_only=True), \"new.pth\")`"
                .into(),
        ));
    }
    let archive = Archive::open(bytes).map_err(err)?;
    let (pk, top) = Pickle::load(archive.entry("data.pkl").map_err(err)?).map_err(|e| match e {
        PickleError::Refused { global, .. } => LoadError::UnsafeGlobal {
            path: path.to_owned(),
            hint: refusal_hint(&global, &archive),
            global,
        },
        other => err(format!("{}/data.pkl: {other}", archive.prefix)),
    })?;
    let entries = find_state_dict(&pk, &top).map_err(err)?;
    let big_endian = match archive.entry("byteorder") {
        Ok(b) => match b {
            b"little" => false,
            b"big" => true,
            other => {
                return Err(err(format!(
                    "{}/byteorder is {:?}, not \"little\" or \"big\"",
                    archive.prefix,
                    String::from_utf8_lossy(other)
                )));
            }
        },
        Err(_) => false,
    };
    let mut tensors = BTreeMap::new();
    for (name, t) in entries {
        if name.ends_with("num_batches_tracked") {
            continue;
        }
        let decode: fn(&[u8], bool) -> f32 = match t.storage.dtype {
            StorageDtype::F32 => |b, be| {
                let a = [b[0], b[1], b[2], b[3]];
                if be {
                    f32::from_be_bytes(a)
                } else {
                    f32::from_le_bytes(a)
                }
            },
            StorageDtype::F16 => |b, be| {
                let a = [b[0], b[1]];
                if be {
                    half::f16::from_be_bytes(a).to_f32()
                } else {
                    half::f16::from_le_bytes(a).to_f32()
                }
            },
            StorageDtype::BF16 => |b, be| {
                let a = [b[0], b[1]];
                if be {
                    half::bf16::from_be_bytes(a).to_f32()
                } else {
                    half::bf16::from_le_bytes(a).to_f32()
                }
            },
            other => {
                return Err(LoadError::Dtype {
                    path: path.to_owned(),
                    name,
                    dtype: format!("{other:?}"),
                });
            }
        };
        let storage = archive
            .entry(&format!("data/{}", t.storage.key))
            .map_err(err)?;
        let data = gather(&t, storage, decode, big_endian)
            .map_err(|reason| err(format!("tensor `{name}`: {reason}")))?;
        crate::checkpoint::check_finite(path, &name, &data)?;
        let shape = t.shape.iter().map(|&d| d as usize).collect();
        if tensors
            .insert(name.clone(), Tensor::new(shape, data))
            .is_some()
        {
            return Err(err(format!("tensor `{name}` appears twice")));
        }
    }
    Ok(Checkpoint {
        path: path.to_owned(),
        tensors,
        metadata: HashMap::new(),
    })
}

/// What to tell a user whose file was refused for naming `global`.
fn refusal_hint(global: &str, archive: &Archive<'_>) -> String {
    if archive.entries.contains_key("constants.pkl") {
        return " This is a TorchScript archive (torch.jit.save); save the weights with \
                `torch.save(model.state_dict(), \"weights.pth\")` instead."
            .into();
    }
    // A class (`torch.nn.modules.linear.Linear`, `torchvision.models.resnet.ResNet`,
    // `__main__.Net`) means the file pickles a whole model rather than its state dict.
    let (module, name) = global.rsplit_once('.').unwrap_or(("", global));
    let state_dict_modules = [
        "torch",
        "torch._utils",
        "collections",
        "builtins",
        "_codecs",
    ];
    if !state_dict_modules.contains(&module) && name.starts_with(|c: char| c.is_ascii_uppercase()) {
        return " If the file is a whole model saved with `torch.save(model)`, save \
                `model.state_dict()` instead."
            .into();
    }
    String::new()
}

/// The state dict in the pickled object: `(name, tensor)` pairs in the file's order.
fn find_state_dict(pk: &Pickle, top: &Value) -> Result<Vec<(String, Rc<TensorRef>)>, String> {
    if let Some(sd) = as_state_dict(pk, top) {
        return Ok(sd);
    }
    let Some(entries) = pk.dict(top) else {
        return Err(format!(
            "the checkpoint holds a {}, not a state dict (a dict of tensors)",
            top.describe()
        ));
    };
    // A wrapper: {"state_dict": {...}, "epoch": 90, "optimizer": {...}, ...}.
    for key in WRAPPER_KEYS {
        let inner = entries
            .iter()
            .find(|(k, _)| matches!(k, Value::Str(s) if &**s == key));
        if let Some(sd) = inner.and_then(|(_, v)| as_state_dict(pk, v)) {
            return Ok(sd);
        }
    }
    let keys: Vec<String> = entries
        .iter()
        .take(8)
        .map(|(k, v)| match k {
            Value::Str(s) => format!("{s:?} ({})", v.describe()),
            other => other.describe(),
        })
        .collect();
    Err(format!(
        "no state dict found: the checkpoint is a dict with keys [{}{}]; expected a dict of tensors, \
         or one under {}",
        keys.join(", "),
        if entries.len() > keys.len() {
            ", ..."
        } else {
            ""
        },
        WRAPPER_KEYS.map(|k| format!("`{k}`")).join(", ")
    ))
}

/// `v` as a state dict: a non-empty dict whose keys are all strings and values all tensors.
fn as_state_dict(pk: &Pickle, v: &Value) -> Option<Vec<(String, Rc<TensorRef>)>> {
    let entries = pk.dict(v)?;
    if entries.is_empty() {
        return None;
    }
    entries
        .iter()
        .map(|(k, v)| match (k, v) {
            (Value::Str(k), Value::Tensor(t)) => Some((k.to_string(), t.clone())),
            _ => None,
        })
        .collect()
}

/// The tensor's elements in row-major order, converted to f32.
fn gather(
    t: &TensorRef,
    storage: &[u8],
    decode: fn(&[u8], bool) -> f32,
    big_endian: bool,
) -> Result<Vec<f32>, String> {
    let esize = t.storage.dtype.size() as u64;
    let available = storage.len() as u64 / esize;
    let numel = t
        .shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("shape {:?} overflows", t.shape))?;
    if numel == 0 {
        return Ok(Vec::new());
    }
    // The last element the view touches.
    let last = t
        .shape
        .iter()
        .zip(&t.stride)
        .try_fold(t.offset, |acc, (&d, &s)| {
            (d - 1).checked_mul(s).and_then(|x| acc.checked_add(x))
        })
        .ok_or_else(|| "offset and strides overflow".to_string())?;
    if last >= available {
        return Err(format!(
            "shape {:?}, strides {:?} and offset {} reach element {last} of storage `{}`, which holds {available}",
            t.shape, t.stride, t.offset, t.storage.key
        ));
    }
    if numel > available.max(1).saturating_mul(MAX_VIEW_EXPANSION) {
        return Err(format!(
            "a view of {numel} elements over a storage of {available}"
        ));
    }
    let at = |i: u64| {
        let b = (i * esize) as usize;
        decode(&storage[b..b + esize as usize], big_endian)
    };
    let contiguous = {
        let mut expect = 1u64;
        let mut ok = true;
        for (&d, &s) in t.shape.iter().zip(&t.stride).rev() {
            if d != 1 && s != expect {
                ok = false;
            }
            expect *= d;
        }
        ok
    };
    let mut out = Vec::with_capacity(numel as usize);
    if contiguous {
        out.extend((t.offset..t.offset + numel).map(at));
        return Ok(out);
    }
    // Odometer over the multi-index, last dimension fastest.
    let nd = t.shape.len();
    let mut idx = vec![0u64; nd];
    let mut pos = t.offset;
    for _ in 0..numel {
        out.push(at(pos));
        for d in (0..nd).rev() {
            idx[d] += 1;
            pos += t.stride[d];
            if idx[d] < t.shape[d] {
                break;
            }
            pos -= t.stride[d] * t.shape[d];
            idx[d] = 0;
        }
    }
    Ok(out)
}

/// The zip archive: entries by name, under the one top-level folder `torch.save` writes.
struct Archive<'a> {
    /// The archive's folder name (the file's stem when it was saved, or `archive`).
    prefix: String,
    /// Entries by the name below `prefix/`.
    entries: HashMap<String, Entry<'a>>,
}

/// One zip entry: its stored bytes, how they are compressed, and the central directory's
/// claim about them (size and CRC-32).
struct Entry<'a> {
    data: &'a [u8],
    method: rawzip::CompressionMethod,
    claim: rawzip::ZipVerification,
}

impl<'a> Archive<'a> {
    fn open(bytes: &'a [u8]) -> Result<Self, String> {
        let zip = rawzip::ZipArchive::from_slice(bytes)
            .map_err(|e| format!("not a valid zip archive ({e})"))?;
        let mut raw = Vec::new();
        for entry in zip.entries() {
            let entry = entry.map_err(|e| format!("bad zip directory ({e})"))?;
            if entry.is_dir() {
                continue;
            }
            let name = String::from_utf8_lossy(entry.file_path().as_bytes()).into_owned();
            let local = zip
                .get_entry(entry.wayfinder())
                .map_err(|e| format!("zip entry {name:?}: {e}"))?;
            // Slice the caller's bytes (which outlive the archive view) at the entry's range.
            let (start, end) = local.compressed_data_range();
            let data = &bytes[start as usize..end as usize];
            let e = Entry {
                data,
                method: entry.compression_method(),
                claim: local.claim_verifier(),
            };
            raw.push((name, e));
        }
        let pkl: Vec<&str> = raw
            .iter()
            .filter_map(|(n, _)| n.strip_suffix("/data.pkl"))
            .filter(|p| !p.contains('/'))
            .collect();
        let prefix = match pkl[..] {
            [p] => p.to_owned(),
            [] => {
                return Err(
                    "the zip archive has no `<name>/data.pkl`, so it was not written by torch.save"
                        .into(),
                );
            }
            _ => {
                return Err(format!(
                    "the zip archive has several data.pkl files: {pkl:?}"
                ));
            }
        };
        let entries = raw
            .into_iter()
            .filter_map(|(n, e)| {
                let rest = n.strip_prefix(&prefix)?.strip_prefix('/')?;
                Some((rest.to_owned(), e))
            })
            .collect();
        Ok(Self { prefix, entries })
    }

    /// The bytes of entry `<prefix>/<name>`, checked against the central directory's size and
    /// CRC-32 so that a damaged file fails here rather than as wrong weights. Only the entries
    /// a state dict needs are read (not, say, an optimizer's momentum buffers).
    fn entry(&self, name: &str) -> Result<&'a [u8], String> {
        let full = format!("{}/{name}", self.prefix);
        let e = self
            .entries
            .get(name)
            .ok_or_else(|| format!("the archive has no entry `{full}`"))?;
        if e.method != rawzip::CompressionMethod::STORE {
            return Err(format!(
                "zip entry `{full}` is compressed ({:?}); torch.save stores entries uncompressed, \
                 so this file was repacked by another tool",
                e.method
            ));
        }
        let got = rawzip::ZipVerification {
            crc: rawzip::crc32(e.data),
            uncompressed_size: e.data.len() as u64,
        };
        e.claim
            .valid(got)
            .map_err(|err| format!("zip entry `{full}` is damaged ({err})"))?;
        Ok(e.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pickle::StorageRef;

    fn view(shape: &[u64], stride: &[u64], offset: u64, storage_len: u64) -> TensorRef {
        TensorRef {
            storage: Rc::new(StorageRef {
                key: "0".into(),
                dtype: StorageDtype::F32,
                numel: storage_len,
            }),
            offset,
            shape: shape.to_vec(),
            stride: stride.to_vec(),
        }
    }

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn le_f32(b: &[u8], _: bool) -> f32 {
        f32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    /// `torch.arange(12.)[2:].view(2, 5)`, its transpose `.t()`, and `expand` (stride 0).
    #[test]
    fn gathers_offsets_transposes_and_broadcasts() {
        let s = f32_bytes(&(0..12).map(|i| i as f32).collect::<Vec<_>>());
        let g = |t: TensorRef| gather(&t, &s, le_f32, false).unwrap();
        assert_eq!(
            g(view(&[2, 5], &[5, 1], 2, 12)),
            [2., 3., 4., 5., 6., 7., 8., 9., 10., 11.]
        );
        assert_eq!(
            g(view(&[5, 2], &[1, 5], 2, 12)),
            [2., 7., 3., 8., 4., 9., 5., 10., 6., 11.]
        );
        assert_eq!(g(view(&[3, 2], &[0, 1], 4, 12)), [4., 5., 4., 5., 4., 5.]);
        assert_eq!(g(view(&[0, 3], &[3, 1], 0, 12)), Vec::<f32>::new());
        assert_eq!(g(view(&[], &[], 7, 12)), [7.]);
    }

    #[test]
    fn refuses_views_past_the_storage() {
        let s = f32_bytes(&[0.0; 12]);
        let e = gather(&view(&[2, 5], &[5, 1], 3, 12), &s, le_f32, false).unwrap_err();
        assert!(
            e.contains("reach element 12") && e.contains("holds 12"),
            "{e}"
        );
        let e = gather(&view(&[u64::MAX, 2], &[1, 1], 0, 12), &s, le_f32, false).unwrap_err();
        assert!(e.contains("overflow"), "{e}");
        let e = gather(&view(&[1 << 30], &[0], 0, 12), &s, le_f32, false).unwrap_err();
        assert!(e.contains("a view of"), "{e}");
    }

    #[test]
    fn legacy_files_are_recognised_and_refused_with_advice() {
        let mut b = LEGACY_MAGIC.to_vec();
        b.extend([b'.', 0, 0]);
        assert!(is_pytorch(&b));
        let e = read(Path::new("old.pth"), &b).unwrap_err().to_string();
        assert!(
            e.contains("old.pth") && e.contains("PyTorch < 1.6") && e.contains("torch.save("),
            "{e}"
        );
    }
}
