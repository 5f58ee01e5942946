//! The iroh endpoint of a device: its device key is the endpoint key, so peers dial a device by
//! the same public key that signs its changes, and QUIC's handshake proves who is on the other
//! end of every connection.
//!
//! Finding a device by its key alone (iroh's address lookup): with [`Lookup::Default`] (what
//! `--relay default` turns on, as iroh's `N0` preset does) a device publishes where it can be
//! reached (its home relay; its direct addresses only when relays are off) as a pkarr record
//! signed with its key to n0's lookup service, and looks the others up there by DNS and pkarr.
//! [`Lookup::Custom`] does the same with a lookup server of the family's own (iroh-dns-server).

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use iroh::endpoint::presets;
use iroh::{Endpoint, EndpointAddr, RelayMode, RelayUrl, SecretKey};

use crate::constants::ALPN;
use crate::core::{DeviceId, DeviceKey};
use crate::net::NetError;

/// Which relays to use: `default` (n0's public relays), `disabled`, or a relay URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relay {
    Default,
    Disabled,
    Custom(RelayUrl),
}

impl FromStr for Relay {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "default" => Ok(Relay::Default),
            "disabled" | "off" | "none" => Ok(Relay::Disabled),
            url => url
                .parse::<RelayUrl>()
                .map(Relay::Custom)
                .map_err(|e| format!("'{url}' is not default, disabled or a relay URL: {e}")),
        }
    }
}

impl fmt::Display for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Relay::Default => f.write_str("default"),
            Relay::Disabled => f.write_str("disabled"),
            Relay::Custom(u) => write!(f, "{u}"),
        }
    }
}

/// How a device finds another by its key alone, wherever it is now: iroh's address lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Only the addresses a device was last seen at (and the LAN, with mDNS).
    Disabled,
    /// n0's public lookup service (dns.iroh.link), as iroh's default preset uses it.
    Default,
    /// A lookup server of your own (iroh-dns-server): publish to and look up at its pkarr URL,
    /// e.g. `https://dns.example.org/pkarr`.
    Custom(url::Url),
}

/// Looking devices up by DNS as well (as iroh's default preset does with n0's service): the
/// lookup server's origin domain and a resolver that asks its nameserver. For a lookup server
/// of your own that answers DNS; tests run iroh's pkarr and DNS test servers on loopback so.
#[derive(Debug, Clone)]
pub struct LookupDns {
    pub origin: String,
    pub resolver: iroh::dns::DnsResolver,
}

impl FromStr for Lookup {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "default" => Ok(Lookup::Default),
            "disabled" | "off" | "none" => Ok(Lookup::Disabled),
            url => match url.parse::<url::Url>() {
                Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(Lookup::Custom(u)),
                Ok(u) => Err(format!(
                    "'{u}' is not an http(s) URL; give a lookup server's pkarr URL, e.g. https://dns.example.org/pkarr"
                )),
                Err(e) => Err(format!(
                    "'{url}' is not default, disabled or a lookup server's URL: {e}"
                )),
            },
        }
    }
}

impl fmt::Display for Lookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lookup::Default => f.write_str("default"),
            Lookup::Disabled => f.write_str("disabled"),
            Lookup::Custom(pkarr) => write!(f, "{pkarr}"),
        }
    }
}

impl Lookup {
    /// What `--lookup` means when it is not given: n0's lookup service with n0's relays
    /// (`--relay default`), none otherwise.
    pub fn follow(relay: &Relay) -> Lookup {
        match relay {
            Relay::Default => Lookup::Default,
            _ => Lookup::Disabled,
        }
    }
}

/// How a device's endpoint is set up.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// The local socket to bind (tests use `127.0.0.1:0`); `None` binds all interfaces.
    pub bind: Option<SocketAddr>,
    pub relay: Relay,
    /// LAN discovery with mDNS. Off when bound to loopback: nothing on the LAN could use it.
    pub mdns: bool,
    /// Certificate authorities to trust for the relay's TLS instead of the public web roots,
    /// for a self-hosted relay with its own certificate (and tests that run iroh's relay server
    /// on loopback).
    pub relay_ca: Option<iroh::tls::CaTlsConfig>,
    /// How to find a device by its key alone (see [`Lookup`]).
    pub lookup: Lookup,
    /// With [`Lookup::Custom`]: look up by DNS as well.
    pub lookup_dns: Option<LookupDns>,
}

impl NetConfig {
    /// Loopback only, no relays, no mDNS: what tests and the demo use.
    pub fn loopback() -> Self {
        NetConfig {
            bind: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            relay: Relay::Disabled,
            mdns: false,
            relay_ca: None,
            lookup: Lookup::Disabled,
            lookup_dns: None,
        }
    }

    /// Whether this endpoint can find a device it has no working address for: on the LAN
    /// (mDNS), through a relay, or by the lookup service.
    pub fn finds_by_key(&self) -> bool {
        self.mdns || self.relay != Relay::Disabled || self.lookup != Lookup::Disabled
    }

    fn relay_mode(&self) -> RelayMode {
        match &self.relay {
            Relay::Default => RelayMode::Default,
            Relay::Disabled => RelayMode::Disabled,
            Relay::Custom(url) => RelayMode::custom([url.clone()]),
        }
    }
}

/// Binds this device's endpoint.
pub async fn bind(key: &DeviceKey, config: &NetConfig) -> Result<Endpoint, NetError> {
    let mut builder = Endpoint::builder(presets::Minimal)
        .secret_key(SecretKey::from_bytes(&key.to_seed()))
        .alpns(vec![ALPN.to_vec()])
        .relay_mode(config.relay_mode());
    if let Some(addr) = config.bind {
        builder = builder
            .clear_ip_transports()
            .bind_addr(addr)
            .map_err(|e| NetError::Bind(format!("{addr}: {e}")))?;
    }
    if let Some(ca) = &config.relay_ca {
        builder = builder.ca_tls_config(ca.clone());
    }
    let loopback = config.bind.is_some_and(|a| a.ip().is_loopback());
    if config.mdns && !loopback {
        builder = builder.address_lookup(iroh_mdns_address_lookup::MdnsAddressLookup::builder());
    }
    builder = with_lookup(builder, config);
    builder.bind().await.map_err(|e| match config.bind {
        Some(addr) => NetError::Bind(format!(
            "{addr}: {e} (is another program using port {}? choose another with --bind, or 127.0.0.1:0 for any)",
            addr.port()
        )),
        None => NetError::Bind(e.to_string()),
    })
}

/// Adds the address lookup of `config.lookup`: a pkarr publisher (this device's relay, or its
/// direct addresses when relays are off: there would be nothing else to find it by) and the
/// resolvers that find the others.
fn with_lookup(
    mut builder: iroh::endpoint::Builder,
    config: &NetConfig,
) -> iroh::endpoint::Builder {
    use iroh::address_lookup::{DnsAddressLookup, PkarrPublisher, PkarrResolver};
    use iroh::endpoint_info::AddrFilter;
    let filter = if config.relay == Relay::Disabled {
        AddrFilter::unfiltered()
    } else {
        AddrFilter::relay_only()
    };
    match &config.lookup {
        Lookup::Disabled => builder,
        Lookup::Default => builder
            .address_lookup(PkarrPublisher::n0_dns().addr_filter(filter))
            .address_lookup(PkarrResolver::n0_dns())
            .address_lookup(DnsAddressLookup::n0_dns()),
        Lookup::Custom(pkarr) => {
            builder = builder
                .address_lookup(PkarrPublisher::builder(pkarr.clone()).addr_filter(filter))
                .address_lookup(PkarrResolver::builder(pkarr.clone()));
            if let Some(dns) = &config.lookup_dns {
                builder = builder
                    .address_lookup(
                        DnsAddressLookup::builder(dns.origin.clone())
                            .dns_resolver(dns.resolver.clone()),
                    )
                    .dns_resolver(dns.resolver.clone());
            }
            builder
        }
    }
}

/// The direct addresses an endpoint can be reached at, as strings for tickets and address books.
pub fn direct_addrs(endpoint: &Endpoint) -> Vec<String> {
    let mut addrs: Vec<String> = endpoint.addr().ip_addrs().map(|a| a.to_string()).collect();
    if addrs.is_empty() {
        addrs = endpoint
            .bound_sockets()
            .iter()
            .filter(|a| !a.ip().is_unspecified())
            .map(|a| a.to_string())
            .collect();
    }
    addrs
}

/// Builds the address to dial a device at from what the address book knows.
pub fn addr_for(device: &DeviceId, addrs: &[String], relay: Option<&str>) -> EndpointAddr {
    let id = iroh::PublicKey::from_bytes(device.as_bytes()).expect("device keys are valid points");
    let mut addr = EndpointAddr::new(id);
    for a in addrs {
        if let Ok(sock) = a.parse::<SocketAddr>() {
            addr = addr.with_ip_addr(sock);
        }
    }
    if let Some(url) = relay.and_then(|r| r.parse::<RelayUrl>().ok()) {
        addr = addr.with_relay_url(url);
    }
    addr
}

/// The device ID of an endpoint ID.
pub fn device_of(id: &iroh::PublicKey) -> DeviceId {
    DeviceId::from_bytes(id.as_bytes()).expect("endpoint IDs are ed25519 keys")
}
