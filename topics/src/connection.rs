//! How aval reaches Kafka and the schema registry. Every Kafka producer, consumer and admin
//! client starts from [`KafkaConnection::client_config`] (bootstrap servers, TLS, SASL, and
//! any librdkafka property an operator passes through) and adds only what its role needs, so a
//! secured cluster is configured once for all of them. Every call to the registry goes through
//! [`RegistryConnection`] (its URL, TLS trust and basic auth). Neither ever shows a secret.

use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;

/// librdkafka's `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }

    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }
}

impl FromStr for SecurityProtocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Ok(SecurityProtocol::Plaintext),
            "SSL" => Ok(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Ok(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Ok(SecurityProtocol::SaslSsl),
            _ => Err(format!(
                "{s:?} is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"
            )),
        }
    }
}

/// The SASL mechanisms aval's librdkafka is built with (GSSAPI and OAUTHBEARER are not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    ScramSha512,
    ScramSha256,
    Plain,
}

impl SaslMechanism {
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::Plain => "PLAIN",
        }
    }
}

impl FromStr for SaslMechanism {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "SCRAM-SHA-512" => Ok(SaslMechanism::ScramSha512),
            "SCRAM-SHA-256" => Ok(SaslMechanism::ScramSha256),
            "PLAIN" => Ok(SaslMechanism::Plain),
            _ => Err(format!(
                "{s:?} is not one of SCRAM-SHA-512, SCRAM-SHA-256, PLAIN"
            )),
        }
    }
}

/// A SASL principal's name and password. The password is shown to no one: not by `Debug`,
/// not in errors.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslLogin {
    pub mechanism: SaslMechanism,
    pub username: String,
    password: String,
}

impl SaslLogin {
    pub fn new(mechanism: SaslMechanism, username: String, password: String) -> Self {
        Self {
            mechanism,
            username,
            password,
        }
    }

    /// For the one place that must hand it on: printing a tenant's new credentials.
    pub fn password(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for SaslLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslLogin")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Properties that have a setting of their own, so there is one way to give each.
const OWN_SETTINGS: &[(&str, &str)] = &[
    ("bootstrap.servers", "KAFKA_BOOTSTRAP"),
    ("metadata.broker.list", "KAFKA_BOOTSTRAP"),
    ("security.protocol", "KAFKA_SECURITY_PROTOCOL"),
    ("sasl.mechanism", "KAFKA_SASL_MECHANISM"),
    ("sasl.mechanisms", "KAFKA_SASL_MECHANISM"),
    ("sasl.username", "KAFKA_SASL_USERNAME"),
    ("sasl.password", "KAFKA_SASL_PASSWORD"),
    ("ssl.ca.location", "KAFKA_SSL_CA_LOCATION"),
];

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConnectionError {
    #[error(
        "{protocol} needs a SASL login: set KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
    )]
    LoginMissing { protocol: &'static str },
    #[error("{variable} sets {property}, which has its own setting: use {own} instead")]
    PassedThroughOwnSetting {
        variable: String,
        property: String,
        own: &'static str,
    },
    /// The cluster refused this client for good: a wrong password, an untrusted certificate.
    /// Waiting does not help.
    #[error("Kafka at {bootstrap} refused the connection ({protocol}{principal}): {reason}")]
    Refused {
        bootstrap: String,
        protocol: &'static str,
        principal: String,
        reason: String,
    },
    /// No broker answered in time: an outage, or a wrong address.
    #[error(
        "Kafka at {bootstrap} did not answer within {seconds} s ({protocol}{principal}): {reason}"
    )]
    Unreachable {
        bootstrap: String,
        protocol: &'static str,
        principal: String,
        seconds: u64,
        reason: String,
    },
    #[error("cannot configure a Kafka client: {0}")]
    Client(String),
    #[error("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO must be USER:PASSWORD")]
    RegistryUserInfo,
    #[error("SCHEMA_REGISTRY_URL {0:?} must start with http:// or https://")]
    RegistryUrl(String),
    #[error("cannot read the registry's CA certificate {path}: {reason}")]
    RegistryCa { path: String, reason: String },
}

impl ConnectionError {
    /// True when retrying cannot help: the settings or the credentials are wrong.
    pub fn is_permanent(&self) -> bool {
        !matches!(self, ConnectionError::Unreachable { .. })
    }
}

/// How long [`KafkaConnection::verify`] waits for librdkafka's reason after a failed call.
const ERROR_EVENT_WAIT: Duration = Duration::from_secs(2);

/// Where the cluster is and how to log in to it.
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaConnection {
    bootstrap: String,
    protocol: SecurityProtocol,
    login: Option<SaslLogin>,
    ca_location: Option<String>,
    passthrough: BTreeMap<String, String>,
}

impl KafkaConnection {
    /// An open PLAINTEXT cluster: development and tests.
    pub fn plaintext(bootstrap: impl Into<String>) -> Self {
        Self {
            bootstrap: bootstrap.into(),
            protocol: SecurityProtocol::Plaintext,
            login: None,
            ca_location: None,
            passthrough: BTreeMap::new(),
        }
    }

    /// Checks that the settings fit together: a SASL protocol needs a login, and no
    /// passed-through property repeats one of these settings. The protocol decides: a login or
    /// a CA it does not use is left out, with a warning (a development shell holds the local
    /// stack's secured settings next to its open listener).
    pub fn new(
        bootstrap: impl Into<String>,
        protocol: SecurityProtocol,
        login: Option<SaslLogin>,
        ca_location: Option<String>,
        passthrough: Vec<PassedThrough>,
    ) -> Result<Self, ConnectionError> {
        let name = protocol.as_str();
        if login.is_none() && protocol.uses_sasl() {
            return Err(ConnectionError::LoginMissing { protocol: name });
        }
        let login = login.filter(|_| {
            protocol.uses_sasl() || {
                tracing::warn!(protocol = name, "a SASL login is set but not used: KAFKA_SECURITY_PROTOCOL is not SASL_SSL or SASL_PLAINTEXT");
                false
            }
        });
        let ca_location = ca_location.filter(|_| {
            protocol.uses_tls() || {
                tracing::warn!(protocol = name, "KAFKA_SSL_CA_LOCATION is set but not used: KAFKA_SECURITY_PROTOCOL is not SSL or SASL_SSL");
                false
            }
        });
        let mut properties = BTreeMap::new();
        for PassedThrough { variable, property } in passthrough {
            if let Some((_, own)) = OWN_SETTINGS.iter().find(|(p, _)| *p == property.name) {
                return Err(ConnectionError::PassedThroughOwnSetting {
                    variable,
                    property: property.name,
                    own,
                });
            }
            properties.insert(property.name, property.value);
        }
        Ok(Self {
            bootstrap: bootstrap.into(),
            protocol,
            login,
            ca_location,
            passthrough: properties,
        })
    }

    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    pub fn protocol(&self) -> SecurityProtocol {
        self.protocol
    }

    pub fn login(&self) -> Option<&SaslLogin> {
        self.login.as_ref()
    }

    pub fn ca_location(&self) -> Option<&str> {
        self.ca_location.as_deref()
    }

    /// The same cluster, as another principal (a tenant's, in `aval admin kafka-tenant` and
    /// the ACL tests).
    pub fn as_principal(&self, login: SaslLogin) -> Self {
        Self {
            login: Some(login),
            ..self.clone()
        }
    }

    /// The settings every client starts from. A role then sets what its correctness depends
    /// on (acks, offsets, isolation); those win over a passed-through property of the same
    /// name, which is logged once at start by [`KafkaConnection::overridden`].
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        for (name, value) in &self.passthrough {
            config.set(name, value);
        }
        config
            .set("bootstrap.servers", &self.bootstrap)
            .set("security.protocol", self.protocol.as_str());
        if let Some(login) = &self.login {
            config
                .set("sasl.mechanism", login.mechanism.as_str())
                .set("sasl.username", &login.username)
                .set("sasl.password", &login.password);
        }
        if let Some(ca) = &self.ca_location {
            config.set("ssl.ca.location", ca);
        }
        // librdkafka's own log lines go through `tracing` (see ConnectionContext); they never
        // contain the password.
        config.set_log_level(RDKafkaLogLevel::Warning);
        config
    }

    /// Logs each passed-through property that `config`, a role's finished configuration,
    /// sets to another value, so an operator learns that aval overrode it.
    pub fn warn_overridden(&self, config: &ClientConfig, client: &str) {
        for (property, value) in self.overridden(config) {
            tracing::warn!(
                property,
                value,
                client,
                "a passed-through Kafka property is overridden: aval's {client} depends on its own value"
            );
        }
    }

    /// The passed-through properties that `config` sets to another value.
    fn overridden<'c>(&self, config: &'c ClientConfig) -> Vec<(&str, &'c str)> {
        self.passthrough
            .iter()
            .filter_map(|(name, value)| match config.get(name) {
                Some(set) if set != value => Some((name.as_str(), set)),
                _ => None,
            })
            .collect()
    }

    /// Connects once and asks for the cluster's metadata: at start, so a wrong password or an
    /// untrusted certificate stops aval with librdkafka's reason instead of a timeout later.
    pub fn verify(&self, timeout: Duration) -> Result<(), ConnectionError> {
        let context = ConnectionContext::default();
        let client: BaseProducer<ConnectionContext> = self
            .client_config()
            .create_with_context(context.clone())
            .map_err(|e| ConnectionError::Client(e.to_string()))?;
        match client.client().fetch_metadata(None, timeout) {
            Ok(_) => Ok(()),
            Err(error) => {
                // librdkafka reports a refused login or certificate as an event on the
                // client's main queue, which only a poll hands to the context, and it may
                // queue it just after the metadata call gives up.
                let waited = std::time::Instant::now();
                let refused = || context.last_error().is_some_and(|seen| seen.refused);
                while !refused() && waited.elapsed() < ERROR_EVENT_WAIT {
                    client.poll(Duration::from_millis(50));
                }
                Err(self.failure(&context, &error, timeout))
            }
        }
    }

    /// What went wrong, in the words of the last error librdkafka reported on the connection
    /// (a metadata timeout alone says nothing of a refused password).
    pub fn failure(
        &self,
        context: &ConnectionContext,
        error: &KafkaError,
        timeout: Duration,
    ) -> ConnectionError {
        let principal = match &self.login {
            Some(login) => format!(", {} user {}", login.mechanism.as_str(), login.username),
            None => String::new(),
        };
        let (bootstrap, protocol) = (self.bootstrap.clone(), self.protocol.as_str());
        match context.last_error() {
            Some(seen) if seen.refused => ConnectionError::Refused {
                bootstrap,
                protocol,
                principal,
                reason: seen.reason,
            },
            seen => ConnectionError::Unreachable {
                bootstrap,
                protocol,
                principal,
                seconds: timeout.as_secs(),
                reason: seen.map_or_else(|| error.to_string(), |s| s.reason),
            },
        }
    }
}

impl fmt::Debug for KafkaConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let passthrough: BTreeMap<&str, &str> = self
            .passthrough
            .iter()
            .map(|(name, value)| {
                let shown = if is_secret(name) {
                    "<redacted>"
                } else {
                    value.as_str()
                };
                (name.as_str(), shown)
            })
            .collect();
        f.debug_struct("KafkaConnection")
            .field("bootstrap", &self.bootstrap)
            .field("protocol", &self.protocol)
            .field("login", &self.login)
            .field("ca_location", &self.ca_location)
            .field("passthrough", &passthrough)
            .finish()
    }
}

/// Where the schema registry is, which CA its TLS certificate is checked against (the
/// system's roots by default), and the basic-auth login it wants, as Confluent's clients take
/// it: `USER:PASSWORD` (`SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO`).
#[derive(Clone)]
pub struct RegistryConnection {
    url: String,
    login: Option<(String, String)>,
    ca_pem: Option<Vec<u8>>,
}

impl RegistryConnection {
    pub fn new(
        url: &str,
        user_info: Option<&str>,
        ca_location: Option<&str>,
    ) -> Result<Self, ConnectionError> {
        let url = url.trim_end_matches('/').to_owned();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConnectionError::RegistryUrl(url));
        }
        let login = user_info
            .map(|info| {
                info.split_once(':')
                    .filter(|(user, _)| !user.is_empty())
                    .map(|(user, password)| (user.to_owned(), password.to_owned()))
                    .ok_or(ConnectionError::RegistryUserInfo)
            })
            .transpose()?;
        let ca_pem = ca_location
            .map(|path| {
                std::fs::read(path).map_err(|e| ConnectionError::RegistryCa {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })
            })
            .transpose()?;
        let connection = Self { url, login, ca_pem };
        // A CA file that is not a certificate is found now, not at the first record.
        let _trusted = connection.client_builder()?;
        Ok(connection)
    }

    /// An open registry: development and tests.
    pub fn open(url: &str) -> Self {
        Self {
            url: url.trim_end_matches('/').to_owned(),
            login: None,
            ca_pem: None,
        }
    }

    /// The base URL, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// An HTTP client that trusts the registry's CA.
    pub fn client_builder(&self) -> Result<reqwest::ClientBuilder, ConnectionError> {
        let builder = reqwest::Client::builder();
        let Some(pem) = &self.ca_pem else {
            return Ok(builder);
        };
        let certificate =
            reqwest::Certificate::from_pem(pem).map_err(|e| ConnectionError::RegistryCa {
                path: "SCHEMA_REGISTRY_SSL_CA_LOCATION".into(),
                reason: e.to_string(),
            })?;
        Ok(builder.add_root_certificate(certificate))
    }

    /// A request to `path` under the registry's URL, logged in.
    pub fn request(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        let request = client.request(method, format!("{}{path}", self.url));
        match &self.login {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        }
    }

    /// The settings of `schema_registry_converter`'s client, with the same trust and login.
    pub(crate) fn converter_settings(
        &self,
        timeout: Duration,
    ) -> Result<schema_registry_converter::async_impl::schema_registry::SrSettings, ConnectionError>
    {
        let mut settings =
            schema_registry_converter::async_impl::schema_registry::SrSettings::new_builder(
                self.url.clone(),
            );
        settings.set_timeout(timeout);
        if let Some((user, password)) = &self.login {
            settings.set_basic_authorization(user, Some(password));
        }
        settings
            .build_with(self.client_builder()?)
            .map_err(|e| ConnectionError::Client(e.to_string()))
    }
}

impl fmt::Debug for RegistryConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryConnection")
            .field("url", &self.url)
            .field("user", &self.login.as_ref().map(|(user, _)| user))
            .field("custom_ca", &self.ca_pem.is_some())
            .finish()
    }
}

/// librdkafka properties whose values are secrets or keys.
fn is_secret(property: &str) -> bool {
    [
        "password",
        "secret",
        "key",
        "pem",
        "jaas",
        "token",
        "oauthbearer.config",
    ]
    .iter()
    .any(|word| property.contains(word))
}

/// A librdkafka property given as an environment variable: `AVAL_KAFKA_<PROPERTY>`, dots
/// written as underscores (`AVAL_KAFKA_SOCKET_KEEPALIVE_ENABLE=true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub name: String,
    pub value: String,
}

/// A property and the variable it came from, for error messages.
#[derive(Clone, PartialEq, Eq)]
pub struct PassedThrough {
    pub variable: String,
    pub property: Property,
}

impl fmt::Debug for PassedThrough {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = if is_secret(&self.property.name) {
            "<redacted>"
        } else {
            &self.property.value
        };
        write!(f, "{}={value}", self.variable)
    }
}

/// The prefix of passed-through properties.
pub const PASSTHROUGH_PREFIX: &str = "AVAL_KAFKA_";

/// The `AVAL_KAFKA_*` variables among `variables`, as librdkafka properties.
pub fn passed_through(variables: impl IntoIterator<Item = (String, String)>) -> Vec<PassedThrough> {
    let mut found: Vec<PassedThrough> = variables
        .into_iter()
        .filter_map(|(variable, value)| {
            let rest = variable.strip_prefix(PASSTHROUGH_PREFIX)?;
            if rest.is_empty() {
                return None;
            }
            let name = rest.to_ascii_lowercase().replace('_', ".");
            Some(PassedThrough {
                variable,
                property: Property { name, value },
            })
        })
        .collect();
    found.sort_by(|a, b| a.variable.cmp(&b.variable));
    found
}

/// An error librdkafka reported on a client's connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenError {
    pub reason: String,
    /// Refused for good (authentication, TLS), rather than not reached.
    pub refused: bool,
}

/// A client context that remembers the last connection error librdkafka reported, so a
/// timeout can be explained (a refused password, an untrusted certificate: such a refusal is
/// kept over the outages reported after it), and that sends librdkafka's log lines to
/// `tracing`.
#[derive(Debug, Clone, Default)]
pub struct ConnectionContext {
    last: Arc<Mutex<Option<SeenError>>>,
}

impl ConnectionContext {
    pub fn last_error(&self) -> Option<SeenError> {
        self.last.lock().map_or(None, |last| last.clone())
    }
}

impl ClientContext for ConnectionContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => tracing::error!(target: "librdkafka", facility, message),
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", facility, message),
            _ => tracing::debug!(target: "librdkafka", facility, message),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let refused = matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SSL)
        );
        tracing::warn!(target: "librdkafka", error = %error, reason, "Kafka connection error");
        if let Ok(mut last) = self.last.lock() {
            // A refusal explains the "all brokers down" that librdkafka reports after it.
            if refused || !last.as_ref().is_some_and(|seen| seen.refused) {
                *last = Some(SeenError {
                    reason: reason.to_owned(),
                    refused,
                });
            }
        }
    }
}

impl ConsumerContext for ConnectionContext {}

/// Only [`KafkaConnection::verify`] produces through this context directly, and sends nothing.
impl ProducerContext for ConnectionContext {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scram(password: &str) -> SaslLogin {
        SaslLogin::new(SaslMechanism::ScramSha512, "aval".into(), password.into())
    }

    fn passed(variable: &str, value: &str) -> (String, String) {
        (variable.to_owned(), value.to_owned())
    }

    #[test]
    fn passed_through_variables_become_properties() {
        let found = passed_through([
            passed("AVAL_KAFKA_SOCKET_KEEPALIVE_ENABLE", "true"),
            passed("AVAL_KAFKA_", "ignored: no property"),
            passed("KAFKA_BOOTSTRAP", "not passed through"),
            passed("AVAL_KAFKA_CLIENT_RACK", "use1-az1"),
        ]);
        let names: Vec<(&str, &str)> = found
            .iter()
            .map(|p| (p.property.name.as_str(), p.property.value.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("client.rack", "use1-az1"),
                ("socket.keepalive.enable", "true")
            ]
        );
    }

    #[test]
    fn the_base_configuration_carries_the_security_settings() {
        let connection = KafkaConnection::new(
            "broker:9094",
            SecurityProtocol::SaslSsl,
            Some(scram("s3cret")),
            Some("/etc/ca.pem".into()),
            passed_through([passed("AVAL_KAFKA_CLIENT_RACK", "a")]),
        )
        .expect("valid");
        let config = connection.client_config();
        for (name, value) in [
            ("bootstrap.servers", "broker:9094"),
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "aval"),
            ("sasl.password", "s3cret"),
            ("ssl.ca.location", "/etc/ca.pem"),
            ("client.rack", "a"),
        ] {
            assert_eq!(config.get(name), Some(value), "{name}");
        }
        let plain = KafkaConnection::plaintext("127.0.0.1:9092").client_config();
        assert_eq!(plain.get("security.protocol"), Some("PLAINTEXT"));
        assert_eq!(plain.get("sasl.username"), None);
    }

    #[test]
    fn settings_that_do_not_fit_together_are_refused_or_left_out() {
        let new = |protocol, login, ca: Option<&str>, extra| {
            KafkaConnection::new("b:1", protocol, login, ca.map(Into::into), extra)
        };
        assert_eq!(
            new(SecurityProtocol::SaslSsl, None, None, vec![]),
            Err(ConnectionError::LoginMissing {
                protocol: "SASL_SSL"
            })
        );
        // The protocol decides: what it does not use is left out.
        let plain = new(
            SecurityProtocol::Plaintext,
            Some(scram("p")),
            Some("/ca.pem"),
            vec![],
        )
        .expect("valid");
        assert_eq!(plain.login(), None);
        assert_eq!(plain.ca_location(), None);
        assert_eq!(plain.client_config().get("sasl.password"), None);
        let tls_only = new(SecurityProtocol::Ssl, Some(scram("p")), None, vec![]).expect("valid");
        assert_eq!(tls_only.login(), None);
        let error = new(
            SecurityProtocol::Plaintext,
            None,
            None,
            passed_through([passed("AVAL_KAFKA_SASL_PASSWORD", "x")]),
        )
        .expect_err("refused");
        assert_eq!(
            error.to_string(),
            "AVAL_KAFKA_SASL_PASSWORD sets sasl.password, which has its own setting: use \
             KAFKA_SASL_PASSWORD instead"
        );
        assert!(new(SecurityProtocol::Ssl, None, Some("/ca.pem"), vec![]).is_ok());
    }

    #[test]
    fn secrets_are_never_shown() {
        let connection = KafkaConnection::new(
            "b:1",
            SecurityProtocol::SaslSsl,
            Some(scram("hunter2-password")),
            None,
            passed_through([
                passed("AVAL_KAFKA_SSL_KEY_PASSWORD", "keystore-pass"),
                passed("AVAL_KAFKA_SSL_KEY_PEM", "-----BEGIN PRIVATE KEY-----"),
                passed("AVAL_KAFKA_CLIENT_RACK", "rack-a"),
            ]),
        )
        .expect("valid");
        let shown = format!("{connection:?}");
        for secret in ["hunter2-password", "keystore-pass", "BEGIN PRIVATE KEY"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("rack-a"), "{shown}");
        let error = connection.failure(
            &ConnectionContext::default(),
            &KafkaError::MetadataFetch(RDKafkaErrorCode::OperationTimedOut),
            Duration::from_secs(5),
        );
        assert!(!error.to_string().contains("hunter2"), "{error}");
        assert!(error.to_string().contains("user aval"), "{error}");
    }

    #[test]
    fn the_registry_login_is_confluent_s_user_info_and_never_shown() {
        let registry = RegistryConnection::new("https://sr.example/", Some("key:s3cr:et"), None)
            .expect("valid");
        assert_eq!(registry.url(), "https://sr.example");
        let client = reqwest::Client::new();
        let request = registry
            .request(&client, reqwest::Method::GET, "/subjects")
            .build()
            .expect("valid");
        assert_eq!(request.url().as_str(), "https://sr.example/subjects");
        let authorization = request.headers()["authorization"].to_str().expect("valid");
        // base64("key:s3cr:et"): the password keeps its own colons.
        assert_eq!(authorization, "Basic a2V5OnMzY3I6ZXQ=");
        assert!(!format!("{registry:?}").contains("s3cr"));
        for bad in ["no-colon", ":password-without-user"] {
            assert_eq!(
                RegistryConnection::new("http://sr", Some(bad), None).expect_err("refused"),
                ConnectionError::RegistryUserInfo
            );
        }
        assert!(matches!(
            RegistryConnection::new("sr:8081", None, None),
            Err(ConnectionError::RegistryUrl(_))
        ));
        let missing = RegistryConnection::new("http://sr", None, Some("/no/such/ca.pem"));
        assert!(matches!(missing, Err(ConnectionError::RegistryCa { .. })));
    }

    #[test]
    fn a_role_setting_that_overrides_a_passed_through_one_is_named() {
        let connection = KafkaConnection::new(
            "b:1",
            SecurityProtocol::Plaintext,
            None,
            None,
            passed_through([
                passed("AVAL_KAFKA_ACKS", "1"),
                passed("AVAL_KAFKA_CLIENT_RACK", "a"),
            ]),
        )
        .expect("valid");
        let mut config = connection.client_config();
        config.set("acks", "all");
        assert_eq!(connection.overridden(&config), [("acks", "all")]);
    }

    #[test]
    fn a_refusal_is_told_from_an_outage() {
        let connection = KafkaConnection::plaintext("b:1");
        let context = ConnectionContext::default();
        context.error(
            KafkaError::Global(RDKafkaErrorCode::Authentication),
            "SASL authentication error: Authentication failed",
        );
        let timeout = KafkaError::MetadataFetch(RDKafkaErrorCode::OperationTimedOut);
        let refused = connection.failure(&context, &timeout, Duration::from_secs(5));
        assert!(refused.is_permanent());
        assert!(
            refused.to_string().contains("SASL authentication error"),
            "{refused}"
        );
        let context = ConnectionContext::default();
        context.error(
            KafkaError::Global(RDKafkaErrorCode::AllBrokersDown),
            "1/1 brokers are down",
        );
        let down = connection.failure(&context, &timeout, Duration::from_secs(5));
        assert!(!down.is_permanent());
        // librdkafka follows a refusal with "all brokers down": the refusal is the reason.
        let context = ConnectionContext::default();
        context.error(
            KafkaError::Global(RDKafkaErrorCode::SSL),
            "SSL handshake failed: certificate verify failed",
        );
        context.error(
            KafkaError::Global(RDKafkaErrorCode::AllBrokersDown),
            "1/1 brokers are down",
        );
        let refused = connection.failure(&context, &timeout, Duration::from_secs(5));
        assert!(refused.is_permanent(), "{refused}");
        assert!(refused.to_string().contains("certificate verify failed"));
        assert!(down.to_string().contains("1/1 brokers are down"), "{down}");
    }
}
