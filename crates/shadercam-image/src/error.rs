//! The crate's single error type. Every message names the file (or, for [`preprocess`]
//! parameter errors, says `preprocess`) and the problem in plain words.
//!
//! [`preprocess`]: crate::preprocess

use std::io;

/// Everything that can go wrong while reading, preprocessing or writing an image.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The file does not exist.
    #[error("{path}: file not found")]
    NotFound { path: String },

    /// The file exists but may not be read (or its directory may not be written).
    #[error("{path}: permission denied ({action})")]
    PermissionDenied {
        path: String,
        action: &'static str,
        #[source]
        source: io::Error,
    },

    /// Any other I/O failure while reading or writing.
    #[error("{path}: cannot {action}: {source}")]
    Io {
        path: String,
        action: &'static str,
        #[source]
        source: io::Error,
    },

    /// A zero-byte file.
    #[error("{path}: not a decodable image (empty file, 0 bytes)")]
    Empty { path: String },

    /// The contents are not a known image format, or the decoder rejected them.
    #[error("{path}: not a decodable image ({detail})")]
    Decode { path: String, detail: String },

    /// The header announces more pixels than allowed (checked before any pixel is decoded).
    #[error(
        "{path}: {width}x{height} = {pixels} pixels exceeds --max-pixels {max_pixels} \
         (decompression-bomb guard)"
    )]
    TooManyPixels {
        path: String,
        width: u32,
        height: u32,
        pixels: u64,
        max_pixels: u64,
    },

    /// Preprocessing parameters that cannot be honoured.
    #[error("preprocess: {detail}")]
    InvalidPreprocess { detail: String },

    /// Bad arguments to a writer (e.g. npy shape does not match the data length).
    #[error("{path}: {detail}")]
    InvalidArgument { path: String, detail: String },

    /// The encoder failed while writing an output file.
    #[error("{path}: cannot encode {format}: {detail}")]
    Encode {
        path: String,
        format: &'static str,
        detail: String,
    },
}

impl ImageError {
    /// Map an I/O error on `path` to the most specific variant.
    pub(crate) fn io(path: &str, action: &'static str, source: io::Error) -> Self {
        match source.kind() {
            io::ErrorKind::NotFound => ImageError::NotFound {
                path: path.to_owned(),
            },
            io::ErrorKind::PermissionDenied => ImageError::PermissionDenied {
                path: path.to_owned(),
                action,
                source,
            },
            _ => ImageError::Io {
                path: path.to_owned(),
                action,
                source,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_error_kinds() {
        let e = ImageError::io(
            "a.png",
            "open file",
            io::Error::from(io::ErrorKind::NotFound),
        );
        assert_eq!(e.to_string(), "a.png: file not found");
        let e = ImageError::io(
            "b.png",
            "open file",
            io::Error::from(io::ErrorKind::PermissionDenied),
        );
        assert_eq!(e.to_string(), "b.png: permission denied (open file)");
        let e = ImageError::io("c.png", "read file", io::Error::other("disk on fire"));
        assert_eq!(e.to_string(), "c.png: cannot read file: disk on fire");
    }
}
