//! Bodies that pass through a gateway are received in full before they are forwarded, because
//! a gateway must verify a signature over the whole body before it hands anything on. To keep
//! memory bounded whatever the size, a body is held in memory up to a configured size and
//! spooled to an unlinked temporary file beyond it, while its SHA-256 (and, when the X-Road
//! request hash needs it, its SHA-512) is computed on the way.

use std::io::{Seek, SeekFrom, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use sha2::{Digest, Sha256, Sha512};
use tokio::io::{AsyncRead, ReadBuf};

/// How long the rest of a refused request body is read and discarded
/// ([`Spooled::receive_request`]).
pub const LINGER: std::time::Duration = std::time::Duration::from_secs(30);

/// What a body's errors become: any [`Body`] whose error converts into this may be received.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A body the gateway can receive: any [`Body`] of [`Bytes`] whose errors convert into a
/// [`BoxError`] — hyper's `Incoming` on the listeners, an in-memory one in tests.
pub trait InBody: Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static {}

impl<B> InBody for B where B: Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static {}

/// What receiving a body gives.
pub type Received = Result<Spooled, SpoolError>;

/// A fully received body.
pub struct Spooled {
    pub len: u64,
    pub sha256: [u8; 32],
    /// Only when asked for ([`Spooled::receive`]'s `sha512`).
    pub sha512: Option<[u8; 64]>,
    data: Data,
}

enum Data {
    Memory(Bytes),
    File(std::fs::File),
}

/// Why a body could not be received.
#[derive(Debug)]
pub enum SpoolError {
    TooLarge { limit: u64 },
    Io(String),
}

impl Spooled {
    pub fn empty() -> Self {
        Self::from_bytes(Bytes::new())
    }

    pub fn from_bytes(b: Bytes) -> Self {
        Self {
            len: b.len() as u64,
            sha256: Sha256::digest(&b).into(),
            sha512: None,
            data: Data::Memory(b),
        }
    }

    /// Receives `body`, refusing more than `limit` bytes; computes its SHA-512 too if `sha512`.
    /// Any [`Body`] of [`Bytes`] will do: hyper's, or one a test builds in memory.
    pub async fn receive<B: InBody>(body: B, limit: u64, memory: usize, sha512: bool) -> Received {
        Self::receive_from(std::pin::pin!(body), limit, memory, sha512).await
    }

    /// [`Spooled::receive`] for a request body a server refuses as too large: the rest is
    /// still read and discarded, for at most [`LINGER`], in a task of its own, while the
    /// refusal is sent. A server that closes a connection with unread data in it makes the
    /// kernel answer with a reset, which can destroy the refusal before the client reads it
    /// (what nginx's "lingering close" avoids the same way). Nothing of it is kept.
    pub async fn receive_request<B: InBody>(
        body: B,
        limit: u64,
        memory: usize,
        sha512: bool,
    ) -> Received {
        // On the heap, since a refused body moves on to the task that discards it.
        let mut body = Box::pin(body);
        let r = Self::receive_from(body.as_mut(), limit, memory, sha512).await;
        if matches!(r, Err(SpoolError::TooLarge { .. })) {
            tokio::spawn(async move {
                let discard = async { while let Some(Ok(_)) = body.frame().await {} };
                let _ = tokio::time::timeout(LINGER, discard).await;
            });
        }
        r
    }

    async fn receive_from<B>(
        mut body: Pin<&mut B>,
        limit: u64,
        memory: usize,
        sha512: bool,
    ) -> Result<Self, SpoolError>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        // A declared length (Content-Length) over the limit is refused before a byte is read.
        if body.size_hint().lower() > limit {
            return Err(SpoolError::TooLarge { limit });
        }
        let mut hasher = Sha256::new();
        let mut hasher512 = sha512.then(Sha512::new);
        let mut buf = BytesMut::new();
        // A body that arrives in one chunk (most small ones) is kept as that chunk, uncopied.
        let mut single: Option<Bytes> = None;
        let mut file: Option<std::fs::File> = None;
        let mut len: u64 = 0;
        while let Some(frame) = body.frame().await {
            let frame = frame
                .map_err(|e| SpoolError::Io(format!("receiving the body failed: {}", e.into())))?;
            let Ok(chunk) = frame.into_data() else {
                continue;
            };
            len += chunk.len() as u64;
            if len > limit {
                return Err(SpoolError::TooLarge { limit });
            }
            hasher.update(&chunk);
            if let Some(h) = &mut hasher512 {
                h.update(&chunk);
            }
            if file.is_none() && buf.is_empty() && single.is_none() && chunk.len() <= memory {
                single = Some(chunk);
                continue;
            }
            if let Some(first) = single.take() {
                buf.extend_from_slice(&first);
            }
            match &mut file {
                Some(f) => f
                    .write_all(&chunk)
                    .map_err(|e| SpoolError::Io(e.to_string()))?,
                None if buf.len() + chunk.len() > memory => {
                    let mut f = tempfile::tempfile()
                        .map_err(|e| SpoolError::Io(format!("cannot spool a large body: {e}")))?;
                    f.write_all(&buf)
                        .and_then(|_| f.write_all(&chunk))
                        .map_err(|e| SpoolError::Io(e.to_string()))?;
                    buf.clear();
                    file = Some(f);
                }
                None => buf.extend_from_slice(&chunk),
            }
        }
        let data = match file {
            Some(mut f) => {
                f.seek(SeekFrom::Start(0))
                    .map_err(|e| SpoolError::Io(e.to_string()))?;
                Data::File(f)
            }
            None => Data::Memory(single.unwrap_or_else(|| buf.freeze())),
        };
        Ok(Self {
            len,
            sha256: hasher.finalize().into(),
            sha512: hasher512.map(|h| h.finalize().into()),
            data,
        })
    }

    /// The whole body in memory (read back from the spool file if it was spooled), leaving it
    /// ready to send; for bodies a service keeps, which `keep_bodies_max_bytes` bounds.
    pub fn to_bytes(&mut self) -> std::io::Result<Bytes> {
        match &mut self.data {
            Data::Memory(b) => Ok(b.clone()),
            Data::File(f) => {
                use std::io::Read;
                let mut v = Vec::with_capacity(self.len as usize);
                f.seek(SeekFrom::Start(0))?;
                f.read_to_end(&mut v)?;
                f.seek(SeekFrom::Start(0))?;
                Ok(Bytes::from(v))
            }
        }
    }

    /// The body, to send on.
    pub fn into_body(self) -> OutBody {
        match self.data {
            Data::Memory(b) => OutBody::Memory(Some(b)),
            Data::File(f) => OutBody::File {
                file: tokio::fs::File::from_std(f),
                remaining: self.len,
            },
        }
    }
}

/// A body being sent: from memory, or streamed from the spool file in 64 KiB reads.
pub enum OutBody {
    Memory(Option<Bytes>),
    File {
        file: tokio::fs::File,
        remaining: u64,
    },
}

impl OutBody {
    pub fn full(b: impl Into<Bytes>) -> Self {
        OutBody::Memory(Some(b.into()))
    }
}

impl Body for OutBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            OutBody::Memory(b) => Poll::Ready(
                b.take()
                    .filter(|b| !b.is_empty())
                    .map(|b| Ok(Frame::data(b))),
            ),
            OutBody::File { file, remaining } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                let want = (*remaining).min(64 * 1024) as usize;
                let mut chunk = vec![0u8; want];
                let mut rb = ReadBuf::new(&mut chunk);
                match Pin::new(file).poll_read(cx, &mut rb) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
                    Poll::Ready(Ok(())) => {
                        let n = rb.filled().len();
                        if n == 0 {
                            return Poll::Ready(Some(Err(std::io::Error::new(
                                std::io::ErrorKind::UnexpectedEof,
                                "the spool file is shorter than the body",
                            ))));
                        }
                        *remaining -= n as u64;
                        chunk.truncate(n);
                        Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            OutBody::Memory(b) => b.as_ref().is_none_or(|b| b.is_empty()),
            OutBody::File { remaining, .. } => *remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            OutBody::Memory(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            OutBody::File { remaining, .. } => SizeHint::with_exact(*remaining),
        }
    }
}
