//! Turning a [`Resolver`]'s name into endpoint URLs, with hickory-resolver
//! (the `dns` feature): it can be pointed at a given name server, and it
//! asks for A and AAAA records together.

use super::Resolver;
use crate::BuildError;

/// A name to resolve, with the client that resolves it.
pub(crate) struct Lookup {
    config: Resolver,
    #[cfg(feature = "dns")]
    resolver: hickory_resolver::TokioResolver,
}

impl std::fmt::Debug for Lookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookup")
            .field("config", &self.config)
            .finish()
    }
}

impl Lookup {
    /// Must run inside the runtime that will resolve.
    #[cfg(feature = "dns")]
    pub(crate) fn new(config: &Resolver) -> Result<Self, BuildError> {
        use hickory_resolver::config::{
            LookupIpStrategy, NameServerConfigGroup, ResolverConfig, ResolverOpts,
        };
        use hickory_resolver::name_server::TokioConnectionProvider;
        use hickory_resolver::TokioResolver;

        let mut builder = match config.name_server {
            Some(server) => {
                let servers =
                    NameServerConfigGroup::from_ips_clear(&[server.ip()], server.port(), true);
                TokioResolver::builder_with_config(
                    ResolverConfig::from_parts(None, Vec::new(), servers),
                    TokioConnectionProvider::default(),
                )
            }
            None => TokioResolver::builder_tokio().map_err(|e| BuildError::Resolver {
                reason: format!("the system's DNS configuration: {e}"),
            })?,
        };
        let opts: &mut ResolverOpts = builder.options_mut();
        opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        // Every round asks the server: membership must follow the answer,
        // whatever TTL it carries.
        opts.cache_size = 0;
        Ok(Lookup {
            config: config.clone(),
            resolver: builder.build(),
        })
    }

    /// Without the `dns` feature there is no resolver: an error naming it.
    #[cfg(not(feature = "dns"))]
    pub(crate) fn new(_config: &Resolver) -> Result<Self, BuildError> {
        Err(BuildError::Resolver {
            reason: "with_resolver needs the `dns` feature of otlp-exporter".to_owned(),
        })
    }

    /// The endpoint URLs the name resolves to now, sorted; an error when
    /// the lookup failed.
    #[cfg(feature = "dns")]
    pub(crate) async fn resolve(&self) -> Result<Vec<String>, String> {
        let answer = self
            .resolver
            .lookup_ip(self.config.host.as_str())
            .await
            .map_err(|e| e.to_string())?;
        let mut urls: Vec<String> = answer
            .iter()
            .map(|ip| self.config.endpoint_for(ip))
            .collect();
        urls.sort();
        urls.dedup();
        Ok(urls)
    }

    #[cfg(not(feature = "dns"))]
    pub(crate) async fn resolve(&self) -> Result<Vec<String>, String> {
        Err(format!(
            "cannot resolve {}: no `dns` feature",
            self.config.host
        ))
    }

    pub(crate) fn config(&self) -> &Resolver {
        &self.config
    }
}
