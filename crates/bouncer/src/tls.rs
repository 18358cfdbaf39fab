//! HTTPS: `server.tls_cert_file` and `server.tls_key_file` (both set) make the listener serve TLS
//! with rustls (on `ring`). The pair is read at start-up, where a missing or bad file is a
//! configuration error naming its key, and again on [`Tls::reload`] (SIGHUP): new handshakes use
//! the new pair, connections already open keep theirs, and a bad new pair is logged and ignored
//! (the old one stays in service).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::{Config, ConfigError};

/// The TLS side of the listener. Clones share the configuration in service.
#[derive(Clone)]
pub struct Tls(Arc<Inner>);

struct Inner {
    /// Replaced whole on reload: the new pair, and a fresh session cache, so that no connection
    /// made after a reload resumes a session of the old pair.
    current: RwLock<Arc<ServerConfig>>,
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert_file", &self.0.cert_file)
            .field("key_file", &self.0.key_file)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// TLS as configured: `None` when the files are not set (plain HTTP).
    pub fn from_config(config: &Config) -> Result<Option<Tls>, ConfigError> {
        let s = &config.server;
        if s.tls_cert_file.is_empty() && s.tls_key_file.is_empty() {
            return Ok(None);
        }
        Tls::load(Path::new(&s.tls_cert_file), Path::new(&s.tls_key_file)).map(Some)
    }

    /// Reads the pair and builds the server configuration.
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<Tls, ConfigError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = server_config(cert_file, key_file, &provider)?;
        Ok(Tls(Arc::new(Inner {
            current: RwLock::new(config),
            cert_file: cert_file.to_owned(),
            key_file: key_file.to_owned(),
            provider,
        })))
    }

    /// The acceptor for a new connection: the pair in service now.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(
            self.0
                .current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }

    /// Re-reads both files; on success, new handshakes use the new pair. On failure nothing
    /// changes and the error says which file is wrong.
    pub fn reload(&self) -> Result<(), ConfigError> {
        let i = &self.0;
        let config = server_config(&i.cert_file, &i.key_file, &i.provider)?;
        *i.current.write().unwrap_or_else(|e| e.into_inner()) = config;
        Ok(())
    }

    /// [`Tls::reload`], logged: what SIGHUP does.
    pub fn reload_logged(&self) {
        match self.reload() {
            Ok(()) => tracing::info!(
                cert_file = %self.0.cert_file.display(),
                "re-read the TLS certificate and key; new connections use them"
            ),
            Err(e) => tracing::error!(
                error = %e,
                "could not re-read the TLS certificate and key; still serving the previous ones"
            ),
        }
    }
}

/// rustls' server side for the pair in these files: safe default protocol versions (TLS 1.2 and
/// 1.3), no client certificates, HTTP/1.1 only (ALPN `http/1.1`).
fn server_config(
    cert_file: &Path,
    key_file: &Path,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<ServerConfig>, ConfigError> {
    let key = read_pair(cert_file, key_file, provider)?;
    let mut config = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError(format!("server.tls_cert_file: TLS setup failed: {e}")))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(key)));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The certificate chain and its key from PEM files (PKCS#8, RSA or SEC1 key), checked to match.
fn read_pair(
    cert_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, ConfigError> {
    let cert_err = |what: String| {
        ConfigError(format!(
            "server.tls_cert_file = {:?}: {what}",
            cert_file.display().to_string()
        ))
    };
    let key_err = |what: String| {
        ConfigError(format!(
            "server.tls_key_file = {:?}: {what}",
            key_file.display().to_string()
        ))
    };
    let pem = std::fs::read(cert_file).map_err(|e| cert_err(format!("cannot read it: {e}")))?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(format!("not a PEM certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(cert_err("no PEM certificate in it".into()));
    }
    let pem = std::fs::read(key_file).map_err(|e| key_err(format!("cannot read it: {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        key_err(format!(
            "expected a PEM private key (PKCS#8, RSA or SEC1): {e}"
        ))
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => {
            key_err("does not match the certificate in server.tls_cert_file".into())
        }
        e @ rustls::Error::InvalidCertificate(_) => cert_err(format!("unusable: {e}")),
        e => key_err(format!("unusable: {e}")),
    })
}
