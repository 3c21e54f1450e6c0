//! The one error type of the document parsers: every variant names the document construct that
//! failed and the JSON path (`$.components[12].purl`) where it failed, never Rust debug output.

use thiserror::Error;

/// A document that could not be detected or parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The bytes are not well-formed JSON / YAML, or a value has the wrong type.
    #[error("{construct}: malformed {syntax} at {path}: {message}")]
    Syntax {
        construct: &'static str,
        syntax: &'static str,
        path: String,
        message: String,
    },
    /// The content is none of the supported document kinds.
    #[error("unrecognized document: {reason}")]
    UnknownKind { reason: String },
    /// The parser was asked for one kind but the content is another.
    #[error("expected a {expected} document, found {found}")]
    WrongKind {
        expected: &'static str,
        found: &'static str,
    },
    /// A required field is absent.
    #[error("{construct}: required field {path} is missing")]
    MissingField {
        construct: &'static str,
        path: String,
    },
    /// A field is present but its value is not allowed.
    #[error("{construct}: invalid value at {path}: {reason}")]
    InvalidValue {
        construct: &'static str,
        path: String,
        reason: String,
    },
    /// An SBOM whose artifact (CycloneDX `metadata.component`, SPDX described package) has no
    /// usable purl: the artifact cannot be identified.
    #[error("SBOM artifact has no valid purl at {path}: {reason}")]
    MissingArtifactPurl { path: String, reason: String },
    /// A CSAF product id used by a vulnerability that the product tree does not define.
    #[error("CSAF product id {product_id:?} used at {path} is not defined in $.product_tree")]
    UnresolvedCsafProduct { product_id: String, path: String },
}
