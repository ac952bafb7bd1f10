//! Sending webhooks: a POST of the event's JSON with the Standard Webhooks headers
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature`), signed by the `standardwebhooks`
//! library, over hyper without redirects or proxies, to addresses [`Destinations`] allows, resolved by a
//! resolver that drops the others (so a name cannot rebind to a forbidden address between the
//! check and the connection).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;
use quire_core::ports::{BoxFuture, WebhookRequest, WebhookResponse, WebhookSender};
use quire_core::webhooks::{LOGGED_RESPONSE_BYTES, WebhookUrl};
use url::Url;

use crate::Destinations;

/// How long registering an endpoint waits for its name to resolve.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

type Connector = HttpsConnector<HttpConnector<GuardedResolver>>;

/// Sends webhooks over HTTP(S).
pub struct HttpSender {
    client: Client<Connector, Full<Bytes>>,
    destinations: Destinations,
    timeout: Duration,
}

impl HttpSender {
    /// A sender allowing `destinations`, giving up on a request after `timeout` (connection,
    /// headers and the logged start of the body together).
    ///
    /// # Errors
    /// When TLS cannot be set up.
    pub fn new(destinations: Destinations, timeout: Duration) -> Result<Self, String> {
        let tls = web_tls()?;
        let mut http = HttpConnector::new_with_resolver(GuardedResolver { destinations });
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        // No redirects (the client follows none) and no proxy: a request goes where it says.
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(Self {
            client,
            destinations,
            timeout,
        })
    }

    /// Why an IP-literal host is refused (names are checked by the resolver).
    fn literal_refusal(&self, url: &Url) -> Option<String> {
        let ip: IpAddr = match url.host()? {
            url::Host::Ipv4(ip) => ip.into(),
            url::Host::Ipv6(ip) => ip.into(),
            url::Host::Domain(_) => return None,
        };
        self.destinations
            .refusal(ip)
            .map(|class| refused_message(ip, class))
    }

    async fn post(&self, request: &WebhookRequest<'_>) -> Result<WebhookResponse, String> {
        let url = Url::parse(request.url.as_str()).map_err(|error| error.to_string())?;
        if let Some(refusal) = self.literal_refusal(&url) {
            return Err(refusal);
        }
        let timestamp = request.timestamp.as_millis().div_euclid(1000);
        let mut signatures = Vec::with_capacity(request.secrets.len());
        for secret in request.secrets {
            let signer = standardwebhooks::Webhook::new(secret.expose())
                .map_err(|error| error.to_string())?;
            signatures.push(
                signer
                    .sign(request.message_id, timestamp, request.body.as_bytes())
                    .map_err(|error| error.to_string())?,
            );
        }
        let outgoing = http::Request::post(url.as_str())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(
                http::header::USER_AGENT,
                concat!("quire-webhooks/", env!("CARGO_PKG_VERSION")),
            )
            .header(standardwebhooks::HEADER_WEBHOOK_ID, request.message_id)
            .header(
                standardwebhooks::HEADER_WEBHOOK_TIMESTAMP,
                timestamp.to_string(),
            )
            .header(
                standardwebhooks::HEADER_WEBHOOK_SIGNATURE,
                signatures.join(" "),
            )
            .body(Full::new(Bytes::copy_from_slice(request.body.as_bytes())))
            .map_err(|error| error.to_string())?;
        let started = Instant::now();
        let exchange = async {
            let response = self
                .client
                .request(outgoing)
                .await
                .map_err(|error| chain(&error))?;
            let latency = started.elapsed();
            let status = response.status().as_u16();
            let mut body = response.into_body();
            let mut kept = Vec::new();
            // Only the start of the body is kept; the rest is not read.
            while kept.len() < LOGGED_RESPONSE_BYTES {
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Some(data) = frame.data_ref() {
                            kept.extend_from_slice(data);
                        }
                    }
                    Some(Err(_)) | None => break,
                }
            }
            kept.truncate(LOGGED_RESPONSE_BYTES);
            Ok::<_, String>(WebhookResponse {
                status: Some(status),
                latency_millis: millis(latency),
                body: String::from_utf8_lossy(&kept).into_owned(),
                error: None,
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| format!("no answer within {} ms", self.timeout.as_millis()))?
    }
}

impl WebhookSender for HttpSender {
    fn send<'a>(&'a self, request: WebhookRequest<'a>) -> BoxFuture<'a, WebhookResponse> {
        Box::pin(async move {
            let started = Instant::now();
            self.post(&request)
                .await
                .unwrap_or_else(|error| WebhookResponse {
                    status: None,
                    latency_millis: millis(started.elapsed()),
                    body: String::new(),
                    error: Some(error),
                })
        })
    }

    fn check_destination<'a>(&'a self, url: &'a WebhookUrl) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let url = Url::parse(url.as_str()).map_err(|error| format!("is not a URL: {error}"))?;
            // What the HTTP client will be given must parse too, or every attempt would fail.
            http::Uri::try_from(url.as_str()).map_err(|error| format!("is not a URL: {error}"))?;
            if let Some(refusal) = self.literal_refusal(&url) {
                return Err(refusal);
            }
            let Some(url::Host::Domain(host)) = url.host() else {
                return Ok(());
            };
            // A name that does not resolve now (or not soon) may later; the resolver checks
            // every send.
            let lookup = tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((host, 0)));
            if let Ok(Ok(addrs)) = lookup.await {
                let addrs: Vec<SocketAddr> = addrs.collect();
                if let Some(refused) = addrs.iter().find_map(|addr| {
                    self.destinations
                        .refusal(addr.ip())
                        .map(|class| refused_message(addr.ip(), class))
                }) && addrs
                    .iter()
                    .all(|addr| self.destinations.refusal(addr.ip()).is_some())
                {
                    return Err(refused);
                }
            }
            Ok(())
        })
    }
}

fn refused_message(ip: IpAddr, class: &str) -> String {
    format!("resolves to {ip}, {class}, which webhooks may not reach")
}

fn millis(elapsed: Duration) -> u32 {
    u32::try_from(elapsed.as_millis()).unwrap_or(u32::MAX)
}

/// An error with its causes, which reqwest keeps in the source chain.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Resolves names with the system resolver and keeps only the addresses webhooks may reach.
#[derive(Clone)]
struct GuardedResolver {
    destinations: Destinations,
}

type Resolving = Pin<
    Box<
        dyn Future<
                Output = Result<
                    std::vec::IntoIter<SocketAddr>,
                    Box<dyn std::error::Error + Send + Sync>,
                >,
            > + Send,
    >,
>;

impl tower_service::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = Resolving;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let destinations = self.destinations;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refusal = None;
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|addr| match destinations.refusal(addr.ip()) {
                    None => true,
                    Some(class) => {
                        refusal.get_or_insert_with(|| refused_message(addr.ip(), class));
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let message = refusal.unwrap_or_else(|| format!("{host} has no address"));
                return Err(message.into());
            }
            Ok(allowed.into_iter())
        })
    }
}

/// TLS for calls out to the web: TLS 1.2 and 1.3 by rustls (ring), trusting the Mozilla root
/// certificates of `webpki-roots` (not the host's store, so every instance trusts the same).
///
/// # Errors
/// When rustls cannot be set up with these protocol versions.
pub fn web_tls() -> Result<rustls::ClientConfig, String> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|error| error.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth())
}
