//! A restricted Python unpickler: enough of the pickle format to read the `data.pkl` that
//! `torch.save` writes for a state dict, and nothing that can run code.
//!
//! A pickle is a program for a small stack machine (CPython's `Lib/pickle.py` and
//! `Lib/pickletools.py` document every opcode). Most opcodes build plain values (ints, strings,
//! tuples, lists, dicts). Two are dangerous: `GLOBAL`/`STACK_GLOBAL` name any Python object by
//! module and name, and `REDUCE` calls it — which is how a pickle runs `os.system`. This
//! machine never imports or calls anything: it knows a short list of globals by name
//! ([`Global`], the same ones PyTorch's own `torch.load(weights_only=True)` allows for a state
//! dict) and builds a plain value for each call to them. Any other global is refused with an
//! error that names it, before anything else happens.
//!
//! Tensors are never materialised here: `torch._utils._rebuild_tensor_v2` becomes a
//! [`TensorRef`] (storage key, dtype, offset, shape, strides); the caller (`pth.rs`) reads the
//! bytes from the zip archive for the tensors it needs.
//!
//! Lists and dicts live in an arena and are referred to by index, so that a container that is
//! memoised and then filled (the usual `EMPTY_DICT; BINPUT; ...; SETITEMS` sequence) is the same
//! object wherever the memo hands it out, as in Python.

use std::collections::HashMap;
use std::rc::Rc;

/// The element type of a torch storage, from its legacy class name (`torch.FloatStorage`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageDtype {
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl StorageDtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::F64 | Self::I64 => 8,
            Self::F32 | Self::I32 => 4,
            Self::F16 | Self::BF16 | Self::I16 => 2,
            Self::I8 | Self::U8 | Self::Bool => 1,
        }
    }

    /// The storage class name `torch.save` pickles for this dtype (`FloatStorage`, ...).
    fn from_class(name: &str) -> Option<Self> {
        Some(match name {
            "DoubleStorage" => Self::F64,
            "FloatStorage" => Self::F32,
            "HalfStorage" => Self::F16,
            "BFloat16Storage" => Self::BF16,
            "LongStorage" => Self::I64,
            "IntStorage" => Self::I32,
            "ShortStorage" => Self::I16,
            "CharStorage" => Self::I8,
            "ByteStorage" => Self::U8,
            "BoolStorage" => Self::Bool,
            _ => return None,
        })
    }
}

/// One storage of the archive, as named by a persistent id
/// `('storage', torch.FloatStorage, key, location, numel)`: its bytes are the zip entry
/// `<archive>/data/<key>`.
#[derive(Debug, PartialEq)]
pub struct StorageRef {
    pub key: String,
    pub dtype: StorageDtype,
    /// Elements, as the persistent id states them.
    pub numel: u64,
}

/// A tensor as `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` describes
/// it: element `[i0, i1, ...]` is `storage[offset + i0 * stride[0] + i1 * stride[1] + ...]`.
/// Offset and strides count elements, not bytes; views and non-contiguous tensors share this form.
#[derive(Debug, PartialEq)]
pub struct TensorRef {
    pub storage: Rc<StorageRef>,
    pub offset: u64,
    pub shape: Vec<u64>,
    pub stride: Vec<u64>,
}

/// The Python globals this unpickler knows. Each is a name, never code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Global {
    /// `collections.OrderedDict`: a state dict's type.
    OrderedDict,
    /// `torch._utils._rebuild_tensor_v2` and the older `_rebuild_tensor`.
    RebuildTensor,
    /// `torch._utils._rebuild_parameter` / `_rebuild_parameter_with_state`: an `nn.Parameter`
    /// around a tensor.
    RebuildParameter,
    /// `torch.FloatStorage` etc.: names a storage's dtype inside a persistent id.
    Storage(StorageDtype),
    /// `builtins.set` / `builtins.frozenset` (protocol 2 pickles sets this way).
    Set,
    /// `_codecs.encode`: how protocol 2 pickles a `bytes` object.
    Encode,
}

impl Global {
    /// The global `module.name`, if it is one of the allowed ones.
    fn lookup(module: &str, name: &str) -> Option<Self> {
        Some(match (module, name) {
            ("collections", "OrderedDict") => Self::OrderedDict,
            ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor") => Self::RebuildTensor,
            ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
                Self::RebuildParameter
            }
            ("torch", class) => Self::Storage(StorageDtype::from_class(class)?),
            ("builtins" | "__builtin__", "set" | "frozenset") => Self::Set,
            ("_codecs", "encode") => Self::Encode,
            _ => return None,
        })
    }
}

/// A Python value as this machine builds it.
#[derive(Clone, Debug)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    Tuple(Rc<[Value]>),
    /// Index into [`Pickle::lists`].
    List(usize),
    /// Index into [`Pickle::dicts`].
    Dict(usize),
    Global(Global),
    Storage(Rc<StorageRef>),
    Tensor(Rc<TensorRef>),
}

impl Value {
    /// A short description for error messages: the type, and the value for scalars and strings.
    pub fn describe(&self) -> String {
        match self {
            Self::None => "None".into(),
            Self::Bool(b) => format!("bool {b}"),
            Self::Int(i) => format!("int {i}"),
            Self::Float(f) => format!("float {f}"),
            Self::Str(s) => format!("str {:?}", truncate(s, 40)),
            Self::Bytes(b) => format!("bytes ({} bytes)", b.len()),
            Self::Tuple(t) => format!("tuple of {}", t.len()),
            Self::List(_) => "list".into(),
            Self::Dict(_) => "dict".into(),
            Self::Global(g) => format!("global {g:?}"),
            Self::Storage(_) => "storage".into(),
            Self::Tensor(t) => format!("tensor {:?}", t.shape),
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

/// Why a pickle was not read.
#[derive(Debug, PartialEq)]
pub enum PickleError {
    /// The pickle names a global outside [`Global`]: `module.name`.
    Refused { global: String, offset: usize },
    /// Anything else: a truncated stream, an unsupported opcode, a malformed argument.
    Malformed { offset: usize, reason: String },
}

impl std::fmt::Display for PickleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused { global, offset } => write!(
                f,
                "the pickle asks for the Python global `{global}` (byte {offset}), which a state dict never needs; \
                 shadercam never runs pickle code and reads only tensors, dicts, lists and numbers \
                 (as torch.load(weights_only=True) does)"
            ),
            Self::Malformed { offset, reason } => {
                write!(f, "byte {offset} of the pickle: {reason}")
            }
        }
    }
}

/// The result of running a pickle: its top value, and the containers it refers to.
#[derive(Debug, Default)]
pub struct Pickle {
    pub lists: Vec<Vec<Value>>,
    /// Key/value pairs in insertion order (a state dict's order).
    pub dicts: Vec<Vec<(Value, Value)>>,
}

impl Pickle {
    /// Runs `data` and returns the containers and the value `STOP` leaves on the stack.
    pub fn load(data: &[u8]) -> Result<(Self, Value), PickleError> {
        let mut m = Machine {
            data,
            pos: 0,
            op_at: 0,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            out: Pickle::default(),
        };
        let top = m.run()?;
        Ok((m.out, top))
    }

    /// The entries of the dict `v`, if it is one.
    pub fn dict(&self, v: &Value) -> Option<&[(Value, Value)]> {
        match v {
            Value::Dict(i) => Some(&self.dicts[*i]),
            _ => None,
        }
    }
}

// Opcodes (CPython `Lib/pickle.py`), protocols 0-5 minus the ones a state dict never uses.
const MARK: u8 = b'(';
const STOP: u8 = b'.';
const POP: u8 = b'0';
const POP_MARK: u8 = b'1';
const DUP: u8 = b'2';
const BININT: u8 = b'J';
const BININT1: u8 = b'K';
const BININT2: u8 = b'M';
const NONE: u8 = b'N';
const BINPERSID: u8 = b'Q';
const REDUCE: u8 = b'R';
const BINSTRING: u8 = b'T';
const SHORT_BINSTRING: u8 = b'U';
const BINUNICODE: u8 = b'X';
const APPEND: u8 = b'a';
const BUILD: u8 = b'b';
const GLOBAL: u8 = b'c';
const DICT: u8 = b'd';
const EMPTY_DICT: u8 = b'}';
const APPENDS: u8 = b'e';
const BINGET: u8 = b'h';
const INST: u8 = b'i';
const LONG_BINGET: u8 = b'j';
const LIST: u8 = b'l';
const EMPTY_LIST: u8 = b']';
const OBJ: u8 = b'o';
const BINPUT: u8 = b'q';
const LONG_BINPUT: u8 = b'r';
const SETITEM: u8 = b's';
const TUPLE: u8 = b't';
const EMPTY_TUPLE: u8 = b')';
const SETITEMS: u8 = b'u';
const BINFLOAT: u8 = b'G';
const BINBYTES: u8 = b'B';
const SHORT_BINBYTES: u8 = b'C';
const PROTO: u8 = 0x80;
const NEWOBJ: u8 = 0x81;
const TUPLE1: u8 = 0x85;
const TUPLE2: u8 = 0x86;
const TUPLE3: u8 = 0x87;
const NEWTRUE: u8 = 0x88;
const NEWFALSE: u8 = 0x89;
const LONG1: u8 = 0x8a;
const LONG4: u8 = 0x8b;
const SHORT_BINUNICODE: u8 = 0x8c;
const BINUNICODE8: u8 = 0x8d;
const BINBYTES8: u8 = 0x8e;
const EMPTY_SET: u8 = 0x8f;
const ADDITEMS: u8 = 0x90;
const FROZENSET: u8 = 0x91;
const NEWOBJ_EX: u8 = 0x92;
const STACK_GLOBAL: u8 = 0x93;
const MEMOIZE: u8 = 0x94;
const FRAME: u8 = 0x95;

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    /// Where the current opcode started, for messages.
    op_at: usize,
    stack: Vec<Value>,
    /// Stack heights at each `MARK` (CPython's metastack).
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    out: Pickle,
}

impl<'a> Machine<'a> {
    fn bad<T>(&self, reason: impl Into<String>) -> Result<T, PickleError> {
        Err(PickleError::Malformed {
            offset: self.op_at,
            reason: reason.into(),
        })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let data = self.data;
        let end = self.pos.checked_add(n).filter(|&e| e <= data.len());
        match end {
            Some(end) => {
                let s = &data[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => self.bad(format!(
                "truncated: needs {n} more bytes, {} left",
                self.data.len() - self.pos
            )),
        }
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, PickleError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, PickleError> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    /// A length read from the stream, as usize.
    fn len(&mut self, width: usize) -> Result<usize, PickleError> {
        let n = match width {
            1 => self.u8()? as u64,
            4 => self.u32()? as u64,
            _ => self.u64()?,
        };
        usize::try_from(n).or_else(|_| self.bad(format!("length {n} does not fit in memory")))
    }

    /// A text line up to `\n` (GLOBAL's arguments).
    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.data[self.pos..];
        let Some(n) = rest.iter().position(|&b| b == b'\n') else {
            return self.bad("truncated: no newline after GLOBAL's name");
        };
        let s = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.pos += n + 1;
        Ok(s)
    }

    fn string(&mut self, n: usize) -> Result<Value, PickleError> {
        let b = self.take(n)?;
        match std::str::from_utf8(b) {
            Ok(s) => Ok(Value::Str(Rc::from(s))),
            Err(e) => self.bad(format!("string is not UTF-8 ({e})")),
        }
    }

    fn pop(&mut self) -> Result<Value, PickleError> {
        // Popping below the innermost MARK would take values that belong to an outer frame.
        if self.marks.last().is_some_and(|&m| self.stack.len() <= m) {
            return self.bad("stack underflow (pop past a MARK)");
        }
        match self.stack.pop() {
            Some(v) => Ok(v),
            None => self.bad("stack underflow"),
        }
    }

    fn top(&mut self) -> Result<&mut Value, PickleError> {
        if self.stack.is_empty() {
            return self.bad("stack underflow");
        }
        Ok(self.stack.last_mut().expect("checked"))
    }

    /// The values pushed since the last MARK, removing them and the mark.
    fn pop_mark(&mut self) -> Result<Vec<Value>, PickleError> {
        let Some(m) = self.marks.pop() else {
            return self.bad("no MARK to pop to");
        };
        if m > self.stack.len() {
            return self.bad("MARK above the stack top");
        }
        Ok(self.stack.split_off(m))
    }

    fn push_tuple(&mut self, items: Vec<Value>) {
        self.stack.push(Value::Tuple(Rc::from(items)));
    }

    fn put(&mut self, key: u32) -> Result<(), PickleError> {
        let v = self.top()?.clone();
        self.memo.insert(key, v);
        Ok(())
    }

    fn get(&mut self, key: u32) -> Result<(), PickleError> {
        match self.memo.get(&key) {
            Some(v) => {
                let v = v.clone();
                self.stack.push(v);
                Ok(())
            }
            None => self.bad(format!("memo key {key} was never stored")),
        }
    }

    fn new_dict(&mut self, items: Vec<(Value, Value)>) -> Value {
        self.out.dicts.push(items);
        Value::Dict(self.out.dicts.len() - 1)
    }

    fn new_list(&mut self, items: Vec<Value>) -> Value {
        self.out.lists.push(items);
        Value::List(self.out.lists.len() - 1)
    }

    /// `d[k] = v` for each pair in `items` on the dict `target`.
    fn set_items(&mut self, target: &Value, items: Vec<Value>) -> Result<(), PickleError> {
        if !items.len().is_multiple_of(2) {
            return self.bad("SETITEMS with an odd number of values");
        }
        let Value::Dict(d) = *target else {
            return self.bad(format!("SETITEM on a {}, not a dict", target.describe()));
        };
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            let dict = &mut self.out.dicts[d];
            // Python semantics: a repeated key replaces the value in place.
            match dict.iter_mut().find(|(old, _)| same_key(old, &k)) {
                Some(slot) => slot.1 = v,
                None => dict.push((k, v)),
            }
        }
        Ok(())
    }

    fn append(&mut self, target: &Value, items: Vec<Value>) -> Result<(), PickleError> {
        match *target {
            Value::List(l) => {
                self.out.lists[l].extend(items);
                Ok(())
            }
            _ => self.bad(format!("APPEND on a {}, not a list", target.describe())),
        }
    }

    fn global(&mut self, module: &str, name: &str) -> Result<Value, PickleError> {
        match Global::lookup(module, name) {
            Some(g) => Ok(Value::Global(g)),
            None => Err(PickleError::Refused {
                global: format!("{module}.{name}"),
                offset: self.op_at,
            }),
        }
    }

    /// `callable(*args)` for an allowed global: builds the value, runs nothing.
    fn call(&mut self, callable: Value, args: Value) -> Result<Value, PickleError> {
        let Value::Tuple(args) = args else {
            return self.bad(format!(
                "REDUCE arguments are a {}, not a tuple",
                args.describe()
            ));
        };
        let Value::Global(g) = callable else {
            return self.bad(format!("REDUCE calls a {}", callable.describe()));
        };
        match g {
            Global::OrderedDict => {
                let mut items = Vec::new();
                if let Some(pairs) = args.first() {
                    // OrderedDict([(k, v), ...])
                    let Value::List(l) = pairs else {
                        return self.bad("OrderedDict(...) with an argument that is not a list");
                    };
                    for p in self.out.lists[*l].clone() {
                        match p {
                            Value::Tuple(t) if t.len() == 2 => {
                                items.push((t[0].clone(), t[1].clone()))
                            }
                            other => {
                                return self.bad(format!(
                                    "OrderedDict item is a {}, not a pair",
                                    other.describe()
                                ));
                            }
                        }
                    }
                }
                Ok(self.new_dict(items))
            }
            Global::RebuildTensor => self.rebuild_tensor(&args),
            Global::RebuildParameter => match args.first() {
                Some(t @ Value::Tensor(_)) => Ok(t.clone()),
                _ => self.bad("_rebuild_parameter without a tensor"),
            },
            Global::Set => {
                let items = match args.first() {
                    Some(Value::List(l)) => self.out.lists[*l].clone(),
                    Some(Value::Tuple(t)) => t.to_vec(),
                    None => Vec::new(),
                    Some(other) => {
                        return self.bad(format!("set() of a {}", other.describe()));
                    }
                };
                Ok(self.new_list(items))
            }
            Global::Encode => match args.first() {
                // _codecs.encode(text, 'latin1'): each char is one byte.
                Some(Value::Str(s)) => {
                    let bytes: Option<Vec<u8>> =
                        s.chars().map(|c| u8::try_from(c as u32).ok()).collect();
                    match bytes {
                        Some(b) => Ok(Value::Bytes(Rc::from(b))),
                        None => self.bad("_codecs.encode of text that is not latin-1"),
                    }
                }
                _ => self.bad("_codecs.encode without a string"),
            },
            Global::Storage(_) => self.bad("a storage class is called directly"),
        }
    }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks[, metadata])`.
    fn rebuild_tensor(&mut self, args: &[Value]) -> Result<Value, PickleError> {
        let [Value::Storage(storage), offset, size, stride, ..] = args else {
            return self.bad("_rebuild_tensor_v2 without (storage, offset, size, stride)");
        };
        let Value::Int(offset) = *offset else {
            return self.bad("tensor storage offset is not an int");
        };
        let dims = |v: &Value| -> Option<Vec<u64>> {
            match v {
                Value::Tuple(t) => t
                    .iter()
                    .map(|x| match x {
                        Value::Int(i) => u64::try_from(*i).ok(),
                        _ => None,
                    })
                    .collect(),
                _ => None,
            }
        };
        let (Some(shape), Some(stride)) = (dims(size), dims(stride)) else {
            return self.bad("tensor size or stride is not a tuple of non-negative ints");
        };
        if shape.len() != stride.len() {
            return self.bad(format!(
                "tensor has {} sizes but {} strides",
                shape.len(),
                stride.len()
            ));
        }
        let Ok(offset) = u64::try_from(offset) else {
            return self.bad(format!("negative tensor storage offset {offset}"));
        };
        Ok(Value::Tensor(Rc::new(TensorRef {
            storage: storage.clone(),
            offset,
            shape,
            stride,
        })))
    }

    /// `persistent_load(('storage', storage_type, key, location, numel))`, torch's form.
    fn persistent(&mut self, pid: Value) -> Result<Value, PickleError> {
        let Value::Tuple(t) = &pid else {
            return self.bad(format!("persistent id is a {}", pid.describe()));
        };
        match &t[..] {
            [
                Value::Str(kind),
                Value::Global(Global::Storage(dtype)),
                key,
                _location,
                numel,
            ] if &**kind == "storage" => {
                let key = match key {
                    Value::Str(s) => s.to_string(),
                    Value::Int(i) => i.to_string(),
                    _ => return self.bad("storage key is not a string"),
                };
                let Value::Int(numel) = *numel else {
                    return self.bad("storage size is not an int");
                };
                let Ok(numel) = u64::try_from(numel) else {
                    return self.bad(format!("negative storage size {numel}"));
                };
                Ok(Value::Storage(Rc::new(StorageRef {
                    key,
                    dtype: *dtype,
                    numel,
                })))
            }
            _ => self
                .bad("persistent id is not ('storage', torch.<Type>Storage, key, location, numel)"),
        }
    }

    fn run(&mut self) -> Result<Value, PickleError> {
        loop {
            self.op_at = self.pos;
            let op = self.u8()?;
            match op {
                PROTO => {
                    let v = self.u8()?;
                    if v > 5 {
                        return self.bad(format!("pickle protocol {v} is newer than 5"));
                    }
                }
                FRAME => {
                    self.u64()?;
                }
                STOP => {
                    let v = self.pop()?;
                    return Ok(v);
                }
                MARK => self.marks.push(self.stack.len()),
                POP => {
                    self.pop()?;
                }
                POP_MARK => {
                    self.pop_mark()?;
                }
                DUP => {
                    let v = self.top()?.clone();
                    self.stack.push(v);
                }
                NONE => self.stack.push(Value::None),
                NEWTRUE => self.stack.push(Value::Bool(true)),
                NEWFALSE => self.stack.push(Value::Bool(false)),
                BININT => {
                    let v = self.u32()? as i32;
                    self.stack.push(Value::Int(v as i64));
                }
                BININT1 => {
                    let v = self.u8()?;
                    self.stack.push(Value::Int(v as i64));
                }
                BININT2 => {
                    let b = self.take(2)?;
                    let v = u16::from_le_bytes([b[0], b[1]]);
                    self.stack.push(Value::Int(v as i64));
                }
                LONG1 | LONG4 => {
                    let n = if op == LONG1 {
                        self.len(1)?
                    } else {
                        self.len(4)?
                    };
                    let b = self.take(n)?;
                    if n > 8 {
                        return self.bad(format!("{n}-byte integer does not fit in 64 bits"));
                    }
                    // Little-endian two's complement, sign-extended from the last byte.
                    let fill = if b.last().is_some_and(|&x| x & 0x80 != 0) {
                        0xff
                    } else {
                        0
                    };
                    let mut buf = [fill; 8];
                    buf[..n].copy_from_slice(b);
                    self.stack.push(Value::Int(i64::from_le_bytes(buf)));
                }
                BINFLOAT => {
                    let b = self.take(8)?;
                    let v = f64::from_be_bytes(b.try_into().expect("8 bytes"));
                    self.stack.push(Value::Float(v));
                }
                SHORT_BINUNICODE | BINUNICODE | BINUNICODE8 => {
                    let w = match op {
                        SHORT_BINUNICODE => 1,
                        BINUNICODE => 4,
                        _ => 8,
                    };
                    let n = self.len(w)?;
                    let s = self.string(n)?;
                    self.stack.push(s);
                }
                // Python 2 `str`, as old checkpoints pickle their keys.
                SHORT_BINSTRING | BINSTRING => {
                    let n = if op == SHORT_BINSTRING {
                        self.len(1)?
                    } else {
                        self.len(4)?
                    };
                    let b = self.take(n)?;
                    let s: String = b.iter().map(|&c| c as char).collect();
                    self.stack.push(Value::Str(Rc::from(s)));
                }
                SHORT_BINBYTES | BINBYTES | BINBYTES8 => {
                    let w = match op {
                        SHORT_BINBYTES => 1,
                        BINBYTES => 4,
                        _ => 8,
                    };
                    let n = self.len(w)?;
                    let b = self.take(n)?;
                    self.stack.push(Value::Bytes(Rc::from(b)));
                }
                EMPTY_TUPLE => self.push_tuple(Vec::new()),
                TUPLE1 | TUPLE2 | TUPLE3 => {
                    let n = (op - TUPLE1 + 1) as usize;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push_tuple(items);
                }
                TUPLE => {
                    let items = self.pop_mark()?;
                    self.push_tuple(items);
                }
                EMPTY_LIST => {
                    let l = self.new_list(Vec::new());
                    self.stack.push(l);
                }
                LIST => {
                    let items = self.pop_mark()?;
                    let l = self.new_list(items);
                    self.stack.push(l);
                }
                APPEND => {
                    let v = self.pop()?;
                    let target = self.top()?.clone();
                    self.append(&target, vec![v])?;
                }
                APPENDS => {
                    let items = self.pop_mark()?;
                    let target = self.top()?.clone();
                    self.append(&target, items)?;
                }
                EMPTY_DICT => {
                    let d = self.new_dict(Vec::new());
                    self.stack.push(d);
                }
                DICT => {
                    let items = self.pop_mark()?;
                    let d = self.new_dict(Vec::new());
                    self.set_items(&d, items)?;
                    self.stack.push(d);
                }
                SETITEM => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let target = self.top()?.clone();
                    self.set_items(&target, vec![k, v])?;
                }
                SETITEMS => {
                    let items = self.pop_mark()?;
                    let target = self.top()?.clone();
                    self.set_items(&target, items)?;
                }
                // Sets are read as lists: nothing in a state dict needs their semantics.
                EMPTY_SET => {
                    let l = self.new_list(Vec::new());
                    self.stack.push(l);
                }
                ADDITEMS => {
                    let items = self.pop_mark()?;
                    let target = self.top()?.clone();
                    self.append(&target, items)?;
                }
                FROZENSET => {
                    let items = self.pop_mark()?;
                    let l = self.new_list(items);
                    self.stack.push(l);
                }
                BINPUT => {
                    let k = self.u8()? as u32;
                    self.put(k)?;
                }
                LONG_BINPUT => {
                    let k = self.u32()?;
                    self.put(k)?;
                }
                MEMOIZE => {
                    let k = u32::try_from(self.memo.len()).unwrap_or(u32::MAX);
                    self.put(k)?;
                }
                BINGET => {
                    let k = self.u8()? as u32;
                    self.get(k)?;
                }
                LONG_BINGET => {
                    let k = self.u32()?;
                    self.get(k)?;
                }
                GLOBAL => {
                    let module = self.line()?;
                    let name = self.line()?;
                    let g = self.global(&module, &name)?;
                    self.stack.push(g);
                }
                STACK_GLOBAL => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Value::Str(module), Value::Str(name)) = (&module, &name) else {
                        return self.bad("STACK_GLOBAL without two strings");
                    };
                    let g = self.global(&module.clone(), &name.clone())?;
                    self.stack.push(g);
                }
                // INST and OBJ name a class and instantiate it: never needed by a state dict.
                INST => {
                    let module = self.line()?;
                    let name = self.line()?;
                    return Err(PickleError::Refused {
                        global: format!("{module}.{name}"),
                        offset: self.op_at,
                    });
                }
                OBJ | NEWOBJ | NEWOBJ_EX => {
                    return self.bad(format!(
                        "opcode 0x{op:02x} creates a Python object, which a state dict never contains"
                    ));
                }
                REDUCE => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let v = self.call(callable, args)?;
                    self.stack.push(v);
                }
                BUILD => {
                    // `obj.__setstate__(state)`: an OrderedDict's `_metadata` attribute (module
                    // versions) or a Parameter's extra state. Neither changes any tensor.
                    let state = self.pop()?;
                    match self.top()? {
                        Value::Dict(_) | Value::Tensor(_) => {}
                        other => {
                            let what = other.describe();
                            return self
                                .bad(format!("BUILD on a {what} (state {})", state.describe()));
                        }
                    }
                }
                BINPERSID => {
                    let pid = self.pop()?;
                    let v = self.persistent(pid)?;
                    self.stack.push(v);
                }
                other => {
                    return self.bad(format!(
                        "unsupported pickle opcode 0x{other:02x} ({:?})",
                        other as char
                    ));
                }
            }
        }
    }
}

/// Dict key equality for the key types a state dict uses.
fn same_key(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::None, Value::None) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pickle.dumps({'a': 1, 'b': [2.5, None]}, protocol=2)`, written out by hand.
    #[test]
    fn reads_plain_values() {
        let mut p = vec![PROTO, 2, EMPTY_DICT, BINPUT, 0, MARK];
        p.extend([SHORT_BINUNICODE, 1, b'a', BININT1, 1]);
        p.extend([
            SHORT_BINUNICODE,
            1,
            b'b',
            EMPTY_LIST,
            BINPUT,
            1,
            MARK,
            BINFLOAT,
        ]);
        p.extend(2.5f64.to_be_bytes());
        p.extend([NONE, APPENDS, SETITEMS, STOP]);
        let (pk, top) = Pickle::load(&p).unwrap();
        let d = pk.dict(&top).unwrap();
        assert_eq!(d.len(), 2);
        assert!(matches!(&d[0], (Value::Str(k), Value::Int(1)) if &**k == "a"));
        let Value::List(l) = d[1].1 else { panic!() };
        assert!(matches!(pk.lists[l][..], [Value::Float(2.5), Value::None]));
    }

    /// A memoised dict filled after BINPUT is the same object when BINGET hands it out again.
    #[test]
    fn memo_shares_containers() {
        let p = vec![
            PROTO,
            2,
            EMPTY_LIST,
            BINPUT,
            0,
            EMPTY_DICT,
            BINPUT,
            1,
            APPEND,
            BINGET,
            1, // list=[d]; push d
            SHORT_BINUNICODE,
            1,
            b'k',
            BININT1,
            7,
            SETITEM,
            POP,
            STOP,
        ];
        let (pk, top) = Pickle::load(&p).unwrap();
        let Value::List(l) = top else { panic!() };
        let inner = pk.dict(&pk.lists[l][0]).unwrap();
        assert_eq!(
            inner.len(),
            1,
            "the dict inside the list sees the later SETITEM"
        );
    }

    #[test]
    fn long1_is_signed() {
        let p = vec![PROTO, 2, LONG1, 2, 0x00, 0xff, STOP];
        let (_, v) = Pickle::load(&p).unwrap();
        assert!(matches!(v, Value::Int(-256)));
    }

    /// `GLOBAL 'os system'` then a call: refused at the GLOBAL, so REDUCE never happens.
    #[test]
    fn refuses_unknown_globals_by_name() {
        let mut p = vec![PROTO, 2, GLOBAL];
        p.extend(b"os\nsystem\n");
        p.extend([SHORT_BINUNICODE, 4]);
        p.extend(b"true");
        p.extend([TUPLE1, REDUCE, STOP]);
        let e = Pickle::load(&p).unwrap_err();
        assert_eq!(
            e,
            PickleError::Refused {
                global: "os.system".into(),
                offset: 2
            }
        );
        assert!(e.to_string().contains("`os.system`"), "{e}");
        // STACK_GLOBAL and INST are refused the same way.
        let mut p = vec![PROTO, 4, SHORT_BINUNICODE, 8];
        p.extend(b"builtins");
        p.extend([SHORT_BINUNICODE, 4]);
        p.extend(b"eval");
        p.extend([STACK_GLOBAL, STOP]);
        assert!(
            matches!(Pickle::load(&p), Err(PickleError::Refused { global, .. }) if global == "builtins.eval")
        );
        let mut p = vec![PROTO, 0, MARK, INST];
        p.extend(b"subprocess\nPopen\n");
        assert!(
            matches!(Pickle::load(&p), Err(PickleError::Refused { global, .. }) if global == "subprocess.Popen")
        );
    }

    #[test]
    fn malformed_streams_are_errors_not_panics() {
        for p in [
            &[][..],
            &[PROTO],
            &[PROTO, 2, STOP],
            &[PROTO, 2, APPEND, STOP],
            &[PROTO, 2, MARK, POP, STOP],
            &[PROTO, 2, BINGET, 3, STOP],
            &[PROTO, 2, BINUNICODE, 0xff, 0xff, 0xff, 0xff],
            &[PROTO, 2, LONG1, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, STOP],
            &[PROTO, 2, EMPTY_TUPLE, EMPTY_TUPLE, REDUCE, STOP],
            &[PROTO, 2, BININT1, 1, EMPTY_DICT, BUILD, BUILD, STOP],
            &[PROTO, 2, 0xfe],
        ] {
            assert!(
                matches!(Pickle::load(p), Err(PickleError::Malformed { .. })),
                "{p:?}"
            );
        }
    }
}
