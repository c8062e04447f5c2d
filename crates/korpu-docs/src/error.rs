//! The one error type of the crate, and how each kind maps to an HTTP status and to the
//! X-Road REST error form (`{"type": …, "message": …}`) that gateways use.

/// What can go wrong exchanging documents.
#[derive(Debug, thiserror::Error)]
pub enum DocsError {
    /// The request is malformed or breaks a rule (missing title, past deadline, too many
    /// attachments, …). The message says which field and how to fix it.
    #[error("{0}")]
    Invalid(String),
    /// A signature on a container or a receipt does not verify, or is not by the party that
    /// claims it.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// The document (or the receipt's document) is not known here.
    #[error("unknown document {0}")]
    UnknownDocument(String),
    /// The operation does not fit the document's state (already signed, not in the inbox, …).
    #[error("{0}")]
    Conflict(String),
    /// The local API was called without the right bearer token.
    #[error("missing or wrong bearer token; use the token in the api_token_file")]
    Unauthorized,
    /// The gateway, or the other organisation through it, refused or failed.
    #[error("the bridge: {0}")]
    Bridge(String),
    /// The database failed.
    #[error("database: {0}")]
    Store(String),
    /// The object store failed.
    #[error("object store: {0}")]
    Blob(String),
    /// Keys, certificates or configuration could not be loaded.
    #[error("configuration: {0}")]
    Config(String),
}

impl DocsError {
    /// The HTTP status for this error.
    pub fn status(&self) -> u16 {
        match self {
            DocsError::Invalid(_) | DocsError::BadSignature(_) => 400,
            DocsError::Unauthorized => 401,
            DocsError::UnknownDocument(_) => 404,
            DocsError::Conflict(_) => 409,
            DocsError::Bridge(_) => 502,
            DocsError::Store(_) | DocsError::Blob(_) | DocsError::Config(_) => 500,
        }
    }

    /// The X-Road error type as the document exchange service reports it to the other side
    /// (it is a provider behind a gateway, hence `Server.ServerProxy.`).
    pub fn xroad_type(&self) -> &'static str {
        match self {
            DocsError::Invalid(_) => "Server.ServerProxy.Docs.InvalidDocument",
            DocsError::BadSignature(_) => "Server.ServerProxy.Docs.BadSignature",
            DocsError::UnknownDocument(_) => "Server.ServerProxy.Docs.UnknownDocument",
            DocsError::Conflict(_) => "Server.ServerProxy.Docs.Conflict",
            DocsError::Unauthorized => "Server.ServerProxy.Docs.Unauthorized",
            DocsError::Bridge(_) => "Server.ServerProxy.Docs.Bridge",
            DocsError::Store(_) | DocsError::Blob(_) | DocsError::Config(_) => {
                "Server.ServerProxy.Docs.InternalError"
            }
        }
    }
}
