//! OpenID Connect providers as a relying party sees them ([`OpenIdProviders`]), by the
//! `openidconnect` crate over a hyper client (no redirects, no proxy, a time limit and a body
//! limit on every call).
//!
//! Each provider's discovery document and JWKS are read on first use, by one caller at a time,
//! and kept for an hour; when a provider cannot be reached its last good copy serves for 30
//! seconds more at a time, and with none, sign-ins answer unavailable at once for 30 seconds.
//! Endpoints that receive secrets (token, keys) must be HTTPS unless the issuer is on this
//! machine. An ID token signed with a key the kept JWKS lacks makes it read the JWKS again (at
//! most every 30 seconds), so a provider's key rotation is followed without a restart.
//!
//! An authorization response whose `iss` parameter names another issuer is refused (RFC
//! 9207; one without it is taken, as from providers that do not send it). Every check of
//! OpenID Connect Core 1.0 section 3.1.3.7 is `openidconnect`'s: the signature
//! under an algorithm the provider advertises (never `none`), `iss`, `aud` (and `azp` with
//! several audiences), `exp` against the injected clock, and the `nonce` this sign-in sent.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJsonWebKeySet, CoreProviderMetadata,
};
use openidconnect::{
    AsyncHttpClient, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    HttpRequest, HttpResponse, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, SignatureVerificationError, TokenResponse,
};
use quire_core::ports::{
    AuthorizationRequest, BoxFuture, Clock, ExternalIdentity, OpenIdProviders,
};
use quire_core::{AuthProblem, Error, Resource, Result};

/// One provider, as configured. (No `Debug`: it holds the client secret.)
#[derive(Clone)]
pub struct ProviderSettings {
    /// The name in quire's URLs (`/api/v1/sessions/openid/{name}`).
    pub name: String,
    /// The issuer identifier; its discovery document is at
    /// `{issuer}/.well-known/openid-configuration` (OpenID Connect Discovery 1.0 section 4).
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// quire's callback as registered at the provider.
    pub redirect_url: String,
    /// Scopes besides `openid`.
    pub scopes: Vec<String>,
}

/// How long a discovery document is kept.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// How often at most an unknown `kid` makes the JWKS be read again.
const JWKS_REFRESH_MIN: Duration = Duration::from_secs(30);
/// The most of a provider's answer that is read.
const BODY_LIMIT: usize = 1 << 20;

struct Discovered {
    metadata: CoreProviderMetadata,
    fetched_at: Instant,
    /// When an unknown `kid` last made the JWKS be read again.
    keys_refreshed_at: Option<Instant>,
}

struct Provider {
    settings: ProviderSettings,
    issuer: IssuerUrl,
    redirect: RedirectUrl,
    discovered: Mutex<Option<Arc<Discovered>>>,
    /// When reading the discovery document last failed, with no copy to fall back on.
    failed_at: Mutex<Option<Instant>>,
    /// Held while the discovery document is read, so concurrent sign-ins read it once.
    refreshing: tokio::sync::Mutex<()>,
}

/// How long after a failed read of a provider's discovery document it is not asked again.
const RETRY_AFTER: Duration = Duration::from_secs(30);

/// The configured providers.
pub struct OpenId {
    providers: HashMap<String, Provider>,
    http: Http,
    clock: Arc<dyn Clock>,
}

impl OpenId {
    /// The providers in `settings`, reached with requests that give up after `timeout`.
    ///
    /// # Errors
    /// An issuer or redirect URL that does not parse, or TLS that cannot be set up.
    pub fn new(
        settings: Vec<ProviderSettings>,
        timeout: Duration,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, String> {
        let mut providers = HashMap::new();
        for settings in settings {
            let issuer = IssuerUrl::new(settings.issuer.clone())
                .map_err(|error| format!("provider {}: issuer: {error}", settings.name))?;
            let redirect = RedirectUrl::new(settings.redirect_url.clone())
                .map_err(|error| format!("provider {}: redirect URL: {error}", settings.name))?;
            providers.insert(
                settings.name.clone(),
                Provider {
                    settings,
                    issuer,
                    redirect,
                    discovered: Mutex::new(None),
                    failed_at: Mutex::new(None),
                    refreshing: tokio::sync::Mutex::new(()),
                },
            );
        }
        Ok(Self {
            providers,
            http: Http::new(timeout)?,
            clock,
        })
    }

    fn provider(&self, name: &str) -> Result<&Provider> {
        self.providers
            .get(name)
            .ok_or(Error::NotFound(Resource::IdentityProvider))
    }

    /// The provider's discovery document and keys: the kept copy while fresh, else read
    /// again by one caller at a time. When that fails the stale copy serves for another
    /// [`RETRY_AFTER`]; with no copy, callers are answered unavailable at once for as long.
    async fn discovered(&self, provider: &Provider) -> Result<Arc<Discovered>> {
        let fresh = |kept: &Option<Arc<Discovered>>| {
            kept.as_ref()
                .filter(|kept| kept.fetched_at.elapsed() < DISCOVERY_TTL)
                .map(Arc::clone)
        };
        if let Some(kept) = fresh(&lock(&provider.discovered)) {
            return Ok(kept);
        }
        let unavailable = Error::Unavailable {
            reason: "the identity provider cannot be reached",
            retry_after_secs: 30,
        };
        let _one_at_a_time = provider.refreshing.lock().await;
        let kept = lock(&provider.discovered).clone();
        if let Some(kept) = fresh(&kept) {
            return Ok(kept);
        }
        if kept.is_none() && lock(&provider.failed_at).is_some_and(|at| at.elapsed() < RETRY_AFTER)
        {
            return Err(unavailable);
        }
        let outcome = CoreProviderMetadata::discover_async(provider.issuer.clone(), &self.http)
            .await
            .map_err(|error| error.to_string())
            .and_then(|metadata| self.check_endpoints(provider, metadata));
        match outcome {
            Ok(metadata) => {
                let fresh = Arc::new(Discovered {
                    metadata,
                    fetched_at: Instant::now(),
                    keys_refreshed_at: kept.as_ref().and_then(|kept| kept.keys_refreshed_at),
                });
                *lock(&provider.discovered) = Some(Arc::clone(&fresh));
                *lock(&provider.failed_at) = None;
                Ok(fresh)
            }
            Err(error) => {
                tracing::warn!(provider = %provider.settings.name, %error, "OpenID discovery failed");
                let Some(kept) = kept else {
                    *lock(&provider.failed_at) = Some(Instant::now());
                    return Err(unavailable);
                };
                // The stale copy serves until the next try.
                let stale = Arc::new(Discovered {
                    metadata: kept.metadata.clone(),
                    fetched_at: Instant::now() - DISCOVERY_TTL + RETRY_AFTER,
                    keys_refreshed_at: kept.keys_refreshed_at,
                });
                *lock(&provider.discovered) = Some(Arc::clone(&stale));
                Ok(stale)
            }
        }
    }

    /// The discovery document, if every endpoint quire calls with secrets (the token
    /// endpoint, the keys) is HTTPS, or plain HTTP on this machine for a provider there.
    fn check_endpoints(
        &self,
        provider: &Provider,
        metadata: CoreProviderMetadata,
    ) -> Result<CoreProviderMetadata, String> {
        let local_issuer = is_loopback_http(provider.issuer.url());
        let endpoints = [
            Some(metadata.jwks_uri().url()),
            metadata.token_endpoint().map(|url| url.url()),
        ];
        for url in endpoints.into_iter().flatten() {
            if url.scheme() != "https" && !(local_issuer && is_loopback_http(url)) {
                return Err(format!("{url} is not an https:// endpoint"));
            }
        }
        Ok(metadata)
    }

    /// Reads the provider's JWKS again, unless it was read within [`JWKS_REFRESH_MIN`];
    /// answers whether there is a new copy to try.
    async fn refresh_keys(&self, provider: &Provider, seen: &Discovered) -> bool {
        if seen
            .keys_refreshed_at
            .is_some_and(|at| at.elapsed() < JWKS_REFRESH_MIN)
        {
            return false;
        }
        let url = seen.metadata.jwks_uri().clone();
        match CoreJsonWebKeySet::fetch_async(&url, &self.http).await {
            Ok(jwks) => {
                let fresh = Arc::new(Discovered {
                    metadata: seen.metadata.clone().set_jwks(jwks),
                    fetched_at: seen.fetched_at,
                    keys_refreshed_at: Some(Instant::now()),
                });
                *lock(&provider.discovered) = Some(fresh);
                true
            }
            Err(error) => {
                tracing::warn!(provider = %provider.settings.name, %error, "reading the provider's JWKS failed");
                // A provider that cannot be reached is not asked again at once either.
                *lock(&provider.discovered) = Some(Arc::new(Discovered {
                    metadata: seen.metadata.clone(),
                    fetched_at: seen.fetched_at,
                    keys_refreshed_at: Some(Instant::now()),
                }));
                false
            }
        }
    }

    fn client(provider: &Provider, discovered: &Discovered) -> CoreClientWithRedirect {
        CoreClient::from_provider_metadata(
            discovered.metadata.clone(),
            ClientId::new(provider.settings.client_id.clone()),
            provider
                .settings
                .client_secret
                .clone()
                .map(ClientSecret::new),
        )
        .set_redirect_uri(provider.redirect.clone())
    }

    async fn identify_at(
        &self,
        provider: &Provider,
        code: &str,
        issuer: Option<&str>,
        request: &AuthorizationRequest,
    ) -> Result<ExternalIdentity> {
        let name = provider.settings.name.as_str();
        let refused = |why: &dyn std::fmt::Display| {
            tracing::warn!(provider = name, reason = %why, "OpenID sign-in refused");
            Error::Unauthenticated(AuthProblem::ExternalSignInRefused)
        };
        let mut discovered = self.discovered(provider).await?;
        // RFC 9207 section 2.4: a response naming another issuer is a mix-up, refused before
        // its code goes anywhere.
        if let Some(issuer) = issuer
            && issuer != discovered.metadata.issuer().as_str()
        {
            return Err(refused(&format!("the response names issuer {issuer:?}")));
        }
        let client = Self::client(provider, &discovered);
        let exchange = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|error| Error::Internal(error.to_string().into()))?
            .set_pkce_verifier(PkceCodeVerifier::new(request.pkce_verifier.clone()));
        let tokens = match exchange.request_async(&self.http).await {
            Ok(tokens) => tokens,
            Err(RequestTokenError::Request(error)) => {
                tracing::warn!(provider = name, %error, "the token endpoint cannot be reached");
                return Err(Error::Unavailable {
                    reason: "the identity provider cannot be reached",
                    retry_after_secs: 30,
                });
            }
            Err(error) => return Err(refused(&error)),
        };
        let Some(id_token) = tokens.id_token() else {
            return Err(refused(&"the token response has no ID token"));
        };
        let nonce = Nonce::new(request.nonce.clone());
        loop {
            let client = Self::client(provider, &discovered);
            let clock = Arc::clone(&self.clock);
            let verifier = client.id_token_verifier().set_time_fn(move || {
                chrono::DateTime::from_timestamp_millis(clock.now().as_millis()).unwrap_or_default()
            });
            match id_token.claims(&verifier, &nonce) {
                Ok(claims) => {
                    return Ok(ExternalIdentity {
                        issuer: discovered.metadata.issuer().as_str().to_owned(),
                        subject: claims.subject().as_str().to_owned(),
                        email: claims.email().map(|email| email.as_str().to_owned()),
                        email_verified: claims.email_verified().unwrap_or(false),
                        preferred_username: claims
                            .preferred_username()
                            .map(|name| name.as_str().to_owned()),
                    });
                }
                Err(ClaimsVerificationError::SignatureVerification(
                    SignatureVerificationError::NoMatchingKey,
                )) if self.refresh_keys(provider, &discovered).await => {
                    discovered = self.discovered(provider).await?;
                }
                Err(error) => return Err(refused(&error)),
            }
        }
    }
}

type CoreClientWithRedirect = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// Whether `url` is plain HTTP to this machine.
fn is_loopback_http(url: &openidconnect::url::Url) -> bool {
    use openidconnect::url::Host;
    url.scheme() == "http"
        && match url.host() {
            Some(Host::Domain(name)) => name == "localhost",
            Some(Host::Ipv4(ip)) => ip.is_loopback(),
            Some(Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl OpenIdProviders for OpenId {
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.providers.keys().cloned().collect();
        names.sort();
        names
    }

    fn callback_is_https(&self, provider: &str) -> bool {
        self.providers
            .get(provider)
            .is_some_and(|provider| provider.redirect.url().scheme() == "https")
    }

    fn authorization_url<'a>(
        &'a self,
        provider: &'a str,
        request: &'a AuthorizationRequest,
    ) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move {
            let provider = self.provider(provider)?;
            let discovered = self.discovered(provider).await?;
            let client = Self::client(provider, &discovered);
            let verifier = PkceCodeVerifier::new(request.pkce_verifier.clone());
            let (state, nonce) = (request.state.clone(), request.nonce.clone());
            let mut authorize = client
                .authorize_url(
                    CoreAuthenticationFlow::AuthorizationCode,
                    move || CsrfToken::new(state),
                    move || Nonce::new(nonce),
                )
                .set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(&verifier));
            for scope in &provider.settings.scopes {
                authorize = authorize.add_scope(Scope::new(scope.clone()));
            }
            let (url, _, _) = authorize.url();
            Ok(url.to_string())
        })
    }

    fn identify<'a>(
        &'a self,
        provider: &'a str,
        code: &'a str,
        issuer: Option<&'a str>,
        request: &'a AuthorizationRequest,
    ) -> BoxFuture<'a, Result<ExternalIdentity>> {
        Box::pin(async move {
            let provider = self.provider(provider)?;
            // Discovery, the token, the keys and discovery again: one limit over them all.
            let limit = self.http.timeout.saturating_mul(2);
            tokio::time::timeout(limit, self.identify_at(provider, code, issuer, request))
                .await
                .unwrap_or(Err(Error::Unavailable {
                    reason: "the identity provider is too slow",
                    retry_after_secs: 30,
                }))
        })
    }
}

/// An HTTP client for `openidconnect`: hyper, HTTPS by the web's roots (or plain HTTP, for a
/// provider on this machine), no redirects, no proxy.
struct Http {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct HttpError(String);

impl Http {
    fn new(timeout: Duration) -> Result<Self, String> {
        let tls = quire_webhooks::web_tls()?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(https),
            timeout,
        })
    }

    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let (parts, body) = request.into_parts();
        let request = http::Request::from_parts(parts, Full::new(Bytes::from(body)));
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|error| HttpError(error.to_string()))?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, BODY_LIMIT)
                .collect()
                .await
                .map_err(|error| HttpError(error.to_string()))?
                .to_bytes();
            Ok(http::Response::from_parts(parts, body.to_vec()))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| HttpError("timed out".to_owned()))?
    }
}

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}
