//! Proxy aliases (seed 003's "proxy server alias"): named forward proxies
//! that connections reference by name (`proxy_alias`) instead of carrying
//! a proxy URL and credentials each. The password is sealed under the
//! master key like a connection's secrets and never shown again. The store
//! keeps the reference, so an unknown alias is refused and an alias in use
//! cannot be deleted, whichever process writes.
use std::fmt;

use serde::Serialize;
use tollgate_store::{ProxyRecord, StoreError};
use url::Url;

use crate::error::ConnectError;
use crate::manager::Connections;
use crate::spec::{ConnectionSecrets, ConnectionSpec, http_url, valid_name_of};

/// The forward proxy a connection's requests go through, resolved: the
/// connection's own settings, or its alias's as stored when the HTTP client
/// is built. Compared whole, so a changed alias means a new client.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyRoute {
    pub url: Url,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl fmt::Debug for ProxyRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyRoute")
            .field("url", &self.url.as_str())
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl ProxyRoute {
    /// The connection's own proxy (`proxy`, `proxy_username` and the sealed
    /// `proxy_password`), when it names one.
    pub fn own(spec: &ConnectionSpec, secrets: &ConnectionSecrets) -> Option<Self> {
        spec.proxy.as_ref().map(|url| Self {
            url: url.clone(),
            username: spec.proxy_username.clone(),
            password: secrets.proxy_password.clone(),
        })
    }
}

/// A proxy alias as created or changed: its URL and optional Basic
/// credentials (both or neither; the password is sealed under the master
/// key and never shown again).
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyInput {
    /// `http://host:port` (or `https://`), without credentials.
    pub url: Url,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl fmt::Debug for ProxyInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyInput")
            .field("url", &self.url.as_str())
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl ProxyInput {
    fn validate(&self) -> Result<(), String> {
        // The proxy sees a TLS tunnel to an https provider, so plain http
        // to it is fine (as for a connection's own proxy).
        http_url("the proxy", &self.url, false)?;
        if self.username.is_some() != self.password.is_some() {
            return Err("a proxy user needs a proxy password, and the other way round".into());
        }
        if self.username.as_deref().is_some_and(str::is_empty) {
            return Err("the proxy user is empty".into());
        }
        Ok(())
    }
}

/// What `proxy show`, `proxy list` and the admin API show of an alias: never
/// the password, only whether one is set.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct ProxyView {
    pub name: String,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    pub has_password: bool,
    /// The connections that go through it, in name order.
    pub used_by: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// The sealing context of an alias's password: it only opens as that.
fn context(name: &str) -> Vec<u8> {
    format!("tollgate/proxy/{name}/password").into_bytes()
}

fn unknown_alias(name: &str) -> ConnectError {
    ConnectError::Config(format!(
        "there is no proxy alias named '{name}' (tollgate proxy list)"
    ))
}

impl Connections {
    fn proxy_record(
        &self,
        name: &str,
        input: &ProxyInput,
        created_at: i64,
    ) -> Result<ProxyRecord, ConnectError> {
        valid_name_of("proxy alias", name).map_err(ConnectError::Config)?;
        input.validate().map_err(ConnectError::Config)?;
        let password_encrypted = input
            .password
            .as_deref()
            .map(|pw| self.master().seal(&context(name), pw.as_bytes()))
            .transpose()
            .map_err(|e| ConnectError::Secrets(e.to_string()))?;
        Ok(ProxyRecord {
            name: name.to_owned(),
            url: input.url.to_string(),
            username: input.username.clone(),
            password_encrypted,
            created_at,
            updated_at: self.now(),
        })
    }

    async fn view(&self, r: ProxyRecord) -> Result<ProxyView, ConnectError> {
        Ok(ProxyView {
            used_by: self.store().proxy_users(&r.name).await?,
            name: r.name,
            url: r.url,
            username: r.username,
            has_password: r.password_encrypted.is_some(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }

    /// Adds an alias. `Conflict` when the name is taken.
    pub async fn create_proxy(
        &self,
        name: &str,
        input: &ProxyInput,
    ) -> Result<ProxyView, ConnectError> {
        let record = self.proxy_record(name, input, self.now())?;
        self.store()
            .create_proxy(&record)
            .await
            .map_err(|e| match e {
                StoreError::Conflict => {
                    ConnectError::Conflict(format!("a proxy alias named '{name}' already exists"))
                }
                e => e.into(),
            })?;
        self.view(record).await
    }

    /// Replaces an alias's URL and credentials; every connection that uses
    /// it goes through the new settings from its next request on. `None`
    /// when there is no such alias.
    pub async fn update_proxy(
        &self,
        name: &str,
        input: &ProxyInput,
    ) -> Result<Option<ProxyView>, ConnectError> {
        let Some(old) = self.store().get_proxy(name).await? else {
            return Ok(None);
        };
        let record = self.proxy_record(name, input, old.created_at)?;
        match self.store().update_proxy(&record).await {
            Err(StoreError::NotFound) => return Ok(None),
            other => other?,
        }
        self.view(record).await.map(Some)
    }

    pub async fn proxy(&self, name: &str) -> Result<Option<ProxyView>, ConnectError> {
        match self.store().get_proxy(name).await? {
            Some(r) => self.view(r).await.map(Some),
            None => Ok(None),
        }
    }

    /// Every alias, in name order.
    pub async fn proxies(&self) -> Result<Vec<ProxyView>, ConnectError> {
        let mut out = Vec::new();
        for r in self.store().list_proxies().await? {
            out.push(self.view(r).await?);
        }
        Ok(out)
    }

    /// Deletes an alias; `Conflict` (naming them) while connections use it.
    /// False when there was none.
    pub async fn delete_proxy(&self, name: &str) -> Result<bool, ConnectError> {
        match self.store().delete_proxy(name).await {
            Err(StoreError::Reference) => {
                let users = self.store().proxy_users(name).await?;
                Err(ConnectError::Conflict(format!(
                    "the proxy alias '{name}' is used by the connection(s) {}; give them another proxy or delete them first",
                    users.join(", ")
                )))
            }
            other => Ok(other?),
        }
    }

    /// The proxy a connection goes through now: its own, or its alias's as
    /// stored at this moment (password opened). An alias that is gone is a
    /// configuration error.
    pub(crate) async fn route(
        &self,
        spec: &ConnectionSpec,
        secrets: &ConnectionSecrets,
    ) -> Result<Option<ProxyRoute>, ConnectError> {
        let Some(alias) = &spec.proxy_alias else {
            return Ok(ProxyRoute::own(spec, secrets));
        };
        let r = self
            .store()
            .get_proxy(alias)
            .await?
            .ok_or_else(|| unknown_alias(alias))?;
        let password = r
            .password_encrypted
            .as_deref()
            .map(|sealed| {
                let plain = self.master().open(&context(alias), sealed).map_err(|e| {
                    ConnectError::Secrets(format!("password of proxy '{alias}': {e}"))
                })?;
                String::from_utf8(plain).map_err(|_| {
                    ConnectError::Secrets(format!("the password of proxy '{alias}' is not text"))
                })
            })
            .transpose()?;
        let url = Url::parse(&r.url)
            .map_err(|e| ConnectError::Config(format!("the stored URL of proxy '{alias}': {e}")))?;
        Ok(Some(ProxyRoute {
            url,
            username: r.username,
            password,
        }))
    }
}

/// A store refusal of a connection write with a proxy alias: the alias does
/// not exist (it was deleted meanwhile).
pub(crate) fn alias_error(spec: &ConnectionSpec, e: StoreError) -> ConnectError {
    match (e, &spec.proxy_alias) {
        (StoreError::Reference, Some(alias)) => unknown_alias(alias),
        (e, _) => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_and_debug() {
        let ok = ProxyInput {
            url: Url::parse("http://proxy.corp:3128").unwrap(),
            username: Some("u".into()),
            password: Some("hunter2".into()),
        };
        assert!(ok.validate().is_ok());
        assert!(!format!("{ok:?}").contains("hunter2"));
        let no_pw = ProxyInput {
            password: None,
            ..ok.clone()
        };
        assert!(no_pw.validate().is_err());
        let creds_in_url = ProxyInput {
            url: Url::parse("http://u:p@proxy.corp:3128").unwrap(),
            username: None,
            password: None,
        };
        assert!(creds_in_url.validate().unwrap_err().contains("credentials"));
        let route = ProxyRoute {
            url: ok.url.clone(),
            username: ok.username.clone(),
            password: ok.password.clone(),
        };
        assert!(!format!("{route:?}").contains("hunter2"));
    }
}
