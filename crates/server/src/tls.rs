//! HTTPS by rustls (TLS 1.2 and 1.3, ring's cipher suites) when a certificate and key are
//! configured: HTTP/1.1 and HTTP/2 (gRPC) by ALPN on the same port, the certificate read again
//! when its files change, so a renewal (certbot, cert-manager) needs no restart.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::either::Either;

/// How long a client may take over its TLS handshake before the connection is dropped: a slow
/// or silent client holds no more than this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshaken connections waiting for the server to take them.
const ACCEPTED_BACKLOG: usize = 128;

/// Where the PEM certificate chain (leaf first) and its private key (PKCS #8, PKCS #1 or SEC 1)
/// are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CertificateFiles {
    /// The chain and key, checked to belong together.
    fn load(&self, provider: &CryptoProvider) -> anyhow::Result<CertifiedKey> {
        let chain = CertificateDer::pem_file_iter(&self.cert)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .with_context(|| format!("reading certificates from {}", self.cert.display()))?;
        anyhow::ensure!(
            !chain.is_empty(),
            "{} holds no certificate",
            self.cert.display()
        );
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .with_context(|| format!("reading a private key from {}", self.key.display()))?;
        CertifiedKey::from_der(chain, key, provider).with_context(|| {
            format!(
                "the key in {} does not serve the certificate in {}",
                self.key.display(),
                self.cert.display()
            )
        })
    }

    /// When each file last changed, to tell a renewal.
    fn stamps(&self) -> Option<(SystemTime, SystemTime)> {
        let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
        Some((modified(&self.cert)?, modified(&self.key)?))
    }
}

/// The certificate in force, swapped when its files change.
#[derive(Debug)]
struct Reloading {
    files: CertificateFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|current| Arc::clone(&current))
    }
}

impl Reloading {
    /// Reads the files again every `every` once they changed; a change that does not load (a
    /// half-written renewal, a key that does not match) is logged and the old certificate kept.
    async fn watch(self: Arc<Self>, every: Duration) {
        let mut seen = self.files.stamps();
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let stamps = self.files.stamps();
            if stamps.is_none() || stamps == seen {
                continue;
            }
            match self.files.load(&self.provider) {
                Ok(loaded) => {
                    if let Ok(mut current) = self.current.write() {
                        *current = Arc::new(loaded);
                    }
                    seen = stamps;
                    tracing::info!(cert = %self.files.cert.display(), "TLS certificate reloaded");
                }
                Err(error) => tracing::warn!(
                    error = format!("{error:#}"),
                    "the changed TLS certificate does not load; serving the previous one"
                ),
            }
        }
    }
}

/// TLS for a listener: the configuration every connection is accepted with.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
}

impl Tls {
    /// Loads the certificate (failing at start-up when it cannot be used) and starts watching
    /// its files every `reload_every`. Call inside the runtime.
    pub fn load(files: CertificateFiles, reload_every: Duration) -> anyhow::Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let first = files.load(&provider)?;
        let resolver = Arc::new(Reloading {
            files,
            provider: Arc::clone(&provider),
            current: RwLock::new(Arc::new(first)),
        });
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&resolver) as Arc<dyn ResolvesServerCert>);
        // RFC 7301: HTTP/2 (gRPC needs it) when the client offers it, else HTTP/1.1.
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        if !reload_every.is_zero() {
            tokio::spawn(resolver.watch(reload_every));
        }
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }
}

/// A listener's connections, as plain TCP or through TLS: what `axum::serve` takes.
pub enum Incoming {
    Plain(TcpListener),
    Tls(TlsIncoming),
}

/// Connections accepted and handshaken apart from the server's loop, so a slow handshake delays
/// no other connection.
pub struct TlsIncoming {
    local: SocketAddr,
    accepted: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    /// Stops accepting when the listener is dropped (at shutdown).
    acceptor: tokio::task::JoinHandle<()>,
}

impl Drop for TlsIncoming {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

impl Incoming {
    /// `listener`'s connections, through `tls` when given. Call inside the runtime.
    pub fn new(listener: TcpListener, tls: Option<&Tls>) -> std::io::Result<Self> {
        let Some(tls) = tls else {
            return Ok(Self::Plain(listener));
        };
        let local = listener.local_addr()?;
        let (sender, accepted) = mpsc::channel(ACCEPTED_BACKLOG);
        let acceptor = tokio::spawn(accept(listener, tls.acceptor.clone(), sender));
        Ok(Self::Tls(TlsIncoming {
            local,
            accepted,
            acceptor,
        }))
    }
}

async fn accept(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    accepted: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(connection) => connection,
            Err(error) => {
                // Out of file descriptors and the like: wait rather than spin.
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let accepted = accepted.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = accepted.send((tls, peer)).await;
                }
                Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

impl axum::serve::Listener for Incoming {
    type Io = Either<TcpStream, TlsStream<TcpStream>>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self {
            Self::Plain(listener) => {
                let (stream, peer) = axum::serve::Listener::accept(listener).await;
                // No Nagle delay: an HTTP/2 answer goes out as several small frames (headers,
                // data, trailers), and holding the later ones until the first is acknowledged
                // costs a delayed ACK (40 ms) per gRPC call.
                let _ = stream.set_nodelay(true);
                (Either::Left(stream), peer)
            }
            Self::Tls(incoming) => match incoming.accepted.recv().await {
                Some((stream, peer)) => (Either::Right(stream), peer),
                // The accepting task is gone only when this listener is: never while serving.
                None => std::future::pending().await,
            },
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        match self {
            Self::Plain(listener) => listener.local_addr(),
            Self::Tls(incoming) => Ok(incoming.local),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn plain_connections_are_accepted_without_nagle_delay() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut incoming = Incoming::new(listener, None).unwrap();
        let _client = tokio::net::TcpStream::connect(address).await.unwrap();
        let (io, _) = axum::serve::Listener::accept(&mut incoming).await;
        let Either::Left(stream) = io else {
            panic!("a plain listener accepts plain TCP")
        };
        assert!(stream.nodelay().unwrap());
    }
}
