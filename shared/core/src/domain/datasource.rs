//! Data sources (after the NHS SDE airlock design's AnalyticsWorkspaceDataSource): where source
//! data lives and how to fetch it, who publishes it and under which licence. Credentials are
//! never part of a data source: it names a secret (Secrets Manager in AWS, the local secrets file
//! under `tre dev`) that the import job reads when it runs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum DataSourceKind {
    /// Fetched from an external system by an import job.
    Import,
    /// Filled through the airlock's upload flow.
    Uploaded,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Csv,
    Parquet,
}

/// Where an import fetches from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Connection {
    /// Objects are paths under `baseUrl`.
    Https {
        #[serde(rename = "baseUrl")]
        base_url: String,
    },
    /// Objects are keys under `prefix`.
    S3 { bucket: String, prefix: String },
    /// One table, exported whole.
    Postgres {
        host: String,
        #[serde(deserialize_with = "crate::domain::whole_number::whole_number")]
        port: u16,
        database: String,
        user: String,
        /// `table` or `schema.table`.
        table: String,
        format: ExportFormat,
        /// PEM of the CA that signed the server's certificate: with it the import connects over
        /// TLS and verifies the server's name; without it, only a server on the runner's own
        /// machine is reached (plain connections never cross a network).
        #[serde(
            default,
            rename = "caCertificate",
            skip_serializing_if = "Option::is_none"
        )]
        ca_certificate: Option<String>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublisherInfo {
    pub organisation: String,
    pub contact_name: String,
    pub contact_role: String,
}

/// Body of `POST /api/datasources`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataSourceSpec {
    pub kind: DataSourceKind,
    pub display_name: String,
    #[serde(default)]
    pub description: String,
    pub project: String,
    /// An SPDX identifier (`CC-BY-4.0`, `OGL-UK-3.0`) or a licence URL.
    pub licence: String,
    pub publisher: PublisherInfo,
    #[serde(default)]
    pub connection: Option<Connection>,
    /// The name of the secret holding the connection's credentials (never the credentials).
    #[serde(default)]
    pub credentials_secret: Option<String>,
    /// What to fetch: paths under the base URL or keys under the prefix.
    #[serde(default)]
    pub objects: Vec<String>,
}

fn text(field: &str, v: &str, max: usize) -> Result<(), String> {
    if v.trim().is_empty() {
        return Err(format!("{field} must not be empty"));
    }
    if v.chars().count() > max {
        return Err(format!("{field} is longer than {max} characters"));
    }
    Ok(())
}

fn identifier(field: &str, v: &str) -> Result<(), String> {
    let mut chars = v.chars();
    let ok = v.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{field} `{v}` is not a plain SQL identifier (letters, digits, _; at most 63)"
        ))
    }
}

/// Relative paths or keys: no empty segment, no `.` or `..`, no leading `/`, no control chars.
fn object_path(v: &str) -> Result<(), String> {
    let bad = v.is_empty()
        || v.len() > 1024
        || v.starts_with('/')
        || v.chars().any(char::is_control)
        || v.split('/').any(|s| s.is_empty() || s == "." || s == "..");
    if bad {
        Err(format!(
            "object `{v}` must be a relative path without empty, `.` or `..` segments"
        ))
    } else {
        Ok(())
    }
}

fn licence(v: &str) -> Result<(), String> {
    let spdx = !v.is_empty()
        && v.len() <= 100
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'));
    if spdx || url::Url::parse(v).is_ok_and(|u| u.scheme() == "https") {
        Ok(())
    } else {
        Err(format!(
            "licence `{v}` must be an SPDX identifier (e.g. CC-BY-4.0) or an https URL"
        ))
    }
}

fn https_base_url(v: &str, networks: &AllowedNetworks) -> Result<(), String> {
    let u = url::Url::parse(v).map_err(|e| format!("baseUrl `{v}` is not a URL: {e}"))?;
    if !u.username().is_empty() || u.password().is_some() {
        return Err("baseUrl must not hold credentials: name a secret in credentialsSecret".into());
    }
    let encrypted = match u.scheme() {
        "https" => true,
        // Plain HTTP only into the allowed networks (a test or local server), named by address.
        "http" => false,
        _ => return Err(format!("baseUrl `{v}` must be https")),
    };
    let host = u
        .host()
        .ok_or_else(|| format!("baseUrl `{v}` has no host"))?;
    destination(&format!("baseUrl `{v}`"), &host, networks, encrypted)
}

/// A literal address, `localhost` or a Unix socket directory is checked now; other names when
/// the import resolves them.
fn postgres_host(host: &str, encrypted: bool, networks: &AllowedNetworks) -> Result<(), String> {
    let field = format!("connection.host `{host}`");
    if host.starts_with('/') {
        if networks.allows_this_machine() {
            return Ok(());
        }
        return Err(format!(
            "{field} is a socket on this machine, which data sources may not reach unless the allowed networks include loopback"
        ));
    }
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    let host = match literal.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => url::Host::Ipv4(v4),
        Ok(IpAddr::V6(v6)) => url::Host::Ipv6(v6),
        // Names may go unencrypted here: the import refuses them unless they are this machine.
        Err(_) => return destination(&field, &url::Host::Domain(host), networks, true),
    };
    destination(&field, &host, networks, encrypted)
}

fn bucket(v: &str) -> Result<(), String> {
    let ok = (3..=63).contains(&v.len())
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && v.starts_with(|c: char| c.is_ascii_alphanumeric())
        && v.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!("bucket `{v}` is not a valid S3 bucket name"))
    }
}

fn secret_name(v: &str) -> Result<(), String> {
    let ok = !v.is_empty()
        && v.len() <= 512
        && v.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '+' | '=' | '.' | '@' | '-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!("credentialsSecret `{v}` is not a secret name"))
    }
}

/// One network of [`AllowedNetworks`]: an address and a prefix length (`10.0.0.0/8`, `::1/128`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNetwork {
    addr: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_match(u32::from(net).into(), u32::from(ip).into(), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_match(u128::from(net), u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_match(net: u128, ip: u128, bits: u8, prefix: u8) -> bool {
    let shift = bits - prefix;
    shift >= bits || (net >> shift) == (ip >> shift)
}

impl std::fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for IpNetwork {
    type Err = String;

    /// `addr/prefix`, or a bare address (the one address). Host bits must be zero, so a typo
    /// such as `10.0.0.5/8` is caught rather than silently widened.
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{s}` is not an address or network (e.g. 10.0.0.0/8)"))?;
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("`{s}`: the prefix length must be 0-{bits}"))?,
            None => bits,
        };
        // `::ffff:10.0.0.0/104` names IPv4 addresses: keep it as the IPv4 network it is.
        let (addr, prefix) = match addr {
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), prefix - 96),
                None => (addr, prefix),
            },
            _ => (addr, prefix),
        };
        let net = Self { addr, prefix };
        let host_bits = match addr {
            IpAddr::V4(a) => !net.contains_bits(u32::from(a).into(), 32),
            IpAddr::V6(a) => !net.contains_bits(u128::from(a), 128),
        };
        if host_bits {
            return Err(format!("`{s}` has host bits set after /{prefix}"));
        }
        Ok(net)
    }
}

impl IpNetwork {
    /// Whether the address bits after the prefix are zero.
    fn contains_bits(&self, v: u128, bits: u8) -> bool {
        let host = u32::from(bits - self.prefix);
        let mask = 1u128.checked_shl(host).map_or(u128::MAX, |m| m - 1);
        v & mask == 0
    }
}

/// The networks beyond the globally routable internet that a deployment lets data sources
/// reach (its own database subnet, or loopback for tests and `tre dev`); nothing by default.
/// Plain (unencrypted) connections go only to these.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedNetworks(Vec<IpNetwork>);

impl FromStr for AllowedNetworks {
    type Err = String;

    /// A comma-separated list (`127.0.0.0/8,::1/128`); empty for none.
    fn from_str(s: &str) -> Result<Self, String> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(IpNetwork::from_str)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

impl std::fmt::Display for AllowedNetworks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, n) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{n}")?;
        }
        Ok(())
    }
}

/// Why a destination is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Forbidden {
    #[error("{addr} is {class}, which data sources may not reach unless the allowed networks include it")]
    NotGlobal { addr: IpAddr, class: AddressClass },
    #[error("{addr} is not in the allowed networks, and unencrypted connections go only to those")]
    Unencrypted { addr: IpAddr },
}

/// A special-purpose range an address falls in (IANA's special-purpose address registries).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressClass {
    /// e.g. `link-local`.
    pub kind: &'static str,
    /// e.g. `169.254.0.0/16`.
    pub range: &'static str,
    /// For an address that embeds an IPv4 one (IPv4-mapped, NAT64, 6to4): how, and which.
    pub embeds: Option<(&'static str, Ipv4Addr)>,
}

impl std::fmt::Display for AddressClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some((how, v4)) = self.embeds {
            write!(f, "{how} {v4}, which is ")?;
        }
        write!(f, "{} ({})", self.kind, self.range)
    }
}

/// An IPv4-mapped IPv6 address is the IPv4 address it maps (a socket connects to that).
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

const V4_RANGES: &[(u32, u8, &str, &str)] = &[
    (0x0000_0000, 8, "\"this network\"", "0.0.0.0/8"),
    (0x0a00_0000, 8, "private", "10.0.0.0/8"),
    (
        0x6440_0000,
        10,
        "shared (carrier-grade NAT)",
        "100.64.0.0/10",
    ),
    (0x7f00_0000, 8, "loopback", "127.0.0.0/8"),
    (0xa9fe_0000, 16, "link-local", "169.254.0.0/16"),
    (0xac10_0000, 12, "private", "172.16.0.0/12"),
    (
        0xc000_0000,
        24,
        "reserved for protocol assignments",
        "192.0.0.0/24",
    ),
    (0xc000_0200, 24, "documentation", "192.0.2.0/24"),
    (0xc058_6300, 24, "6to4 relay anycast", "192.88.99.0/24"),
    (0xc0a8_0000, 16, "private", "192.168.0.0/16"),
    (0xc612_0000, 15, "benchmarking", "198.18.0.0/15"),
    (0xc633_6400, 24, "documentation", "198.51.100.0/24"),
    (0xcb00_7100, 24, "documentation", "203.0.113.0/24"),
    (0xe000_0000, 4, "multicast", "224.0.0.0/4"),
    (0xf000_0000, 4, "reserved (and broadcast)", "240.0.0.0/4"),
];

const V6_RANGES: &[(u128, u8, &str, &str)] = &[
    (0, 128, "unspecified", "::/128"),
    (1, 128, "loopback", "::1/128"),
    (0, 96, "IPv4-compatible (deprecated)", "::/96"),
    (
        0x0064_ff9b_0001 << 80,
        48,
        "local-use NAT64",
        "64:ff9b:1::/48",
    ),
    (0x0100 << 112, 64, "discard-only", "100::/64"),
    (0x2001_0db8 << 96, 32, "documentation", "2001:db8::/32"),
    (
        0x2001 << 112,
        23,
        "reserved for protocol assignments",
        "2001::/23",
    ),
    (0x3fff << 112, 20, "documentation", "3fff::/20"),
    (0x5f00 << 112, 16, "segment routing", "5f00::/16"),
    (0xfc00 << 112, 7, "unique-local", "fc00::/7"),
    (0xfe80 << 112, 10, "link-local", "fe80::/10"),
    (0xfec0 << 112, 10, "site-local (deprecated)", "fec0::/10"),
    (0xff00 << 112, 8, "multicast", "ff00::/8"),
];

fn v4_class(ip: Ipv4Addr) -> Option<AddressClass> {
    let v = u32::from(ip);
    V4_RANGES
        .iter()
        .find(|(net, prefix, ..)| prefix_match((*net).into(), v.into(), 32, *prefix))
        .map(|(_, _, kind, range)| AddressClass {
            kind,
            range,
            embeds: None,
        })
}

/// The special-purpose range `ip` is in; `None` for a globally routable address.
pub fn special_purpose(ip: IpAddr) -> Option<AddressClass> {
    let v6 = match ip {
        IpAddr::V4(v4) => return v4_class(v4),
        IpAddr::V6(v6) => v6,
    };
    let embedded = |how: &'static str, v4: Ipv4Addr| {
        v4_class(v4).map(|c| AddressClass {
            embeds: Some((how, v4)),
            ..c
        })
    };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return embedded("IPv4-mapped", v4);
    }
    let v = u128::from(v6);
    // NAT64 and 6to4 reach the IPv4 address they carry: that one decides.
    if prefix_match(0x0064_ff9b << 96, v, 128, 96) {
        return embedded("NAT64 of", Ipv4Addr::from(v as u32));
    }
    if prefix_match(0x2002 << 112, v, 128, 16) {
        return embedded("6to4 of", Ipv4Addr::from((v >> 80) as u32));
    }
    if let Some((_, _, kind, range)) = V6_RANGES
        .iter()
        .find(|(net, prefix, ..)| prefix_match(*net, v, 128, *prefix))
    {
        return Some(AddressClass {
            kind,
            range,
            embeds: None,
        });
    }
    // Global unicast is 2000::/3; the rest is unassigned.
    if !prefix_match(0x2000 << 112, v, 128, 3) {
        return Some(AddressClass {
            kind: "not global unicast",
            range: "outside 2000::/3",
            embeds: None,
        });
    }
    None
}

impl AllowedNetworks {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is in one of the networks (an IPv4-mapped address as the IPv4 one).
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }

    /// Whether a destination may be reached: in an allowed network, or (for an encrypted
    /// connection) globally routable.
    pub fn check(&self, ip: IpAddr, encrypted: bool) -> Result<(), Forbidden> {
        if self.contains(ip) {
            return Ok(());
        }
        if let Some(class) = special_purpose(ip) {
            return Err(Forbidden::NotGlobal { addr: ip, class });
        }
        if encrypted {
            Ok(())
        } else {
            Err(Forbidden::Unencrypted { addr: ip })
        }
    }

    /// Whether the runner's own machine (loopback, a Unix socket) may be reached.
    pub fn allows_this_machine(&self) -> bool {
        self.contains(IpAddr::V4(Ipv4Addr::LOCALHOST))
            || self.contains(IpAddr::V6(Ipv6Addr::LOCALHOST))
    }
}

/// `localhost` and its subdomains name this machine (RFC 6761) whatever DNS says.
pub fn is_localhost(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h == "localhost" || h.ends_with(".localhost")
}

/// What registration can tell about a destination without resolving it: a literal address is
/// checked; `localhost` as loopback; other names wait for the import, which resolves and checks
/// them (and refuses them over an unencrypted connection unless they resolve into the allowed
/// networks).
fn destination(
    field: &str,
    host: &url::Host<&str>,
    networks: &AllowedNetworks,
    encrypted: bool,
) -> Result<(), String> {
    let ip = match host {
        url::Host::Ipv4(v4) => IpAddr::V4(*v4),
        url::Host::Ipv6(v6) => IpAddr::V6(*v6),
        url::Host::Domain(d) if is_localhost(d) => {
            if networks.allows_this_machine() {
                return Ok(());
            }
            return Err(format!(
                "{field}: `{d}` is this machine (loopback), which data sources may not reach unless the allowed networks include it"
            ));
        }
        url::Host::Domain(d) if !encrypted => {
            return Err(format!(
                "{field}: an unencrypted connection is only for addresses in the allowed networks, named by address (not `{d}`); use https"
            ))
        }
        url::Host::Domain(_) => return Ok(()),
    };
    networks
        .check(ip, encrypted)
        .map_err(|e| format!("{field}: {e}"))
}

impl DataSourceSpec {
    /// Every rule a data source must meet before it is stored; the message names the field.
    /// `networks` are the deployment's allowed networks: a literal address outside them that
    /// is not globally routable, and plain http outside them, are refused.
    pub fn validate(&self, networks: &AllowedNetworks) -> Result<(), String> {
        text("displayName", &self.display_name, 200)?;
        if self.description.chars().count() > 4000 {
            return Err("description is longer than 4000 characters".into());
        }
        text("project", &self.project, 200)?;
        licence(&self.licence)?;
        text("publisher.organisation", &self.publisher.organisation, 200)?;
        text("publisher.contactName", &self.publisher.contact_name, 200)?;
        text("publisher.contactRole", &self.publisher.contact_role, 200)?;
        if let Some(s) = &self.credentials_secret {
            secret_name(s)?;
        }
        match (self.kind, &self.connection) {
            (DataSourceKind::Uploaded, None) => {
                if !self.objects.is_empty() || self.credentials_secret.is_some() {
                    return Err(
                        "an Uploaded data source has no objects or credentials: its files come through the airlock"
                            .into(),
                    );
                }
                Ok(())
            }
            (DataSourceKind::Uploaded, Some(_)) => {
                Err("an Uploaded data source has no connection".into())
            }
            (DataSourceKind::Import, None) => {
                Err("an Import data source needs a connection".into())
            }
            (DataSourceKind::Import, Some(c)) => self.validate_connection(c, networks),
        }
    }

    fn validate_connection(
        &self,
        c: &Connection,
        networks: &AllowedNetworks,
    ) -> Result<(), String> {
        match c {
            Connection::Https { base_url } => https_base_url(base_url, networks)?,
            Connection::S3 { bucket: b, prefix } => {
                bucket(b)?;
                if self.credentials_secret.is_some() {
                    return Err("an S3 source is read with the runner's own role: it takes no credentialsSecret".into());
                }
                if prefix.starts_with('/') || prefix.split('/').any(|s| s == "..") {
                    return Err(format!("prefix `{prefix}` must be relative, without `..`"));
                }
            }
            Connection::Postgres {
                host,
                port,
                database,
                user,
                table,
                ca_certificate,
                ..
            } => {
                text("connection.host", host, 253)?;
                postgres_host(host, ca_certificate.is_some(), networks)?;
                if let Some(pem) = ca_certificate {
                    if !pem.contains("-----BEGIN CERTIFICATE-----") || pem.len() > 65536 {
                        return Err("connection.caCertificate must be a PEM certificate".into());
                    }
                }
                if *port == 0 {
                    return Err("connection.port must be 1-65535".into());
                }
                identifier("connection.database", database)?;
                identifier("connection.user", user)?;
                let mut parts = table.split('.');
                let (first, second, rest) = (parts.next(), parts.next(), parts.next());
                match (first, second, rest) {
                    (Some(t), None, None) => identifier("connection.table", t)?,
                    (Some(s), Some(t), None) => {
                        identifier("connection.table schema", s)?;
                        identifier("connection.table", t)?;
                    }
                    _ => return Err(format!("connection.table `{table}` is not `schema.table`")),
                }
                if !self.objects.is_empty() {
                    return Err("a PostgreSQL import exports its table: it takes no objects".into());
                }
                return Ok(());
            }
        }
        if self.objects.is_empty() {
            return Err("an Import data source names at least one object".into());
        }
        if self.objects.len() > 1000 {
            return Err("at most 1000 objects per data source".into());
        }
        for o in &self.objects {
            object_path(o)?;
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = self.objects.iter().find(|o| !seen.insert(o.as_str())) {
            return Err(format!("object `{dup}` is named twice"));
        }
        Ok(())
    }
}

/// Where a data source's imported files live: under its own prefix of the workspace-data store
/// (workspaces read them there once the source is completed and bound to them).
pub fn data_key(data_source_id: &str, name: &str) -> String {
    format!("datasources/{data_source_id}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn loopback() -> AllowedNetworks {
        "127.0.0.0/8,::1/128"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn https() -> DataSourceSpec {
        serde_json::from_value(json!({
            "kind": "Import", "displayName": "Admissions", "project": "Cohort study",
            "licence": "CC-BY-4.0",
            "publisher": {"organisation": "Example Trust", "contactName": "A. Steward", "contactRole": "Data steward"},
            "connection": {"type": "https", "baseUrl": "https://data.example.org/exports"},
            "objects": ["2026/admissions.csv", "codebook.txt"]
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_port_spelled_with_a_zero_fraction_is_the_whole_number() {
        // JSON Schema's `integer` takes 5432.0, and generated clients send it so.
        let spec = |port: serde_json::Value| {
            serde_json::from_value::<DataSourceSpec>(json!({
                "kind": "Import", "displayName": "Admissions", "project": "Cohort study",
                "licence": "CC-BY-4.0",
                "publisher": {"organisation": "Example Trust", "contactName": "A. Steward", "contactRole": "Data steward"},
                "connection": {"type": "postgres", "host": "db.example.org", "port": port,
                    "database": "cohort", "user": "reader", "table": "admissions", "format": "csv"}
            }))
        };
        let Ok(DataSourceSpec {
            connection: Some(Connection::Postgres { port, .. }),
            ..
        }) = spec(json!(5432.0))
        else {
            panic!("5432.0 was refused");
        };
        assert_eq!(port, 5432);
        for refused in [json!(5432.5), json!(70000), json!(-1), json!("5432")] {
            assert!(
                spec(refused.clone()).is_err(),
                "{refused} was taken as a port"
            );
        }
    }

    #[test]
    fn a_complete_source_passes_and_each_rule_names_its_field() {
        assert_eq!(https().validate(&AllowedNetworks::default()), Ok(()));
        let refused = |f: &dyn Fn(&mut DataSourceSpec)| {
            let mut s = https();
            f(&mut s);
            s.validate(&AllowedNetworks::default())
                .err()
                .unwrap_or_default()
        };
        assert!(refused(&|s| s.display_name = " ".into()).contains("displayName"));
        assert!(refused(&|s| s.licence = "not a licence!".into()).contains("licence"));
        assert!(refused(&|s| s.publisher.contact_role.clear()).contains("contactRole"));
        assert!(refused(&|s| s.objects = vec!["../etc/passwd".into()]).contains(".."));
        assert!(refused(&|s| s.objects = vec!["/abs".into()]).contains("relative"));
        assert!(refused(&|s| s.objects.clear()).contains("at least one object"));
        assert!(refused(&|s| s.objects = vec!["a".into(), "a".into()]).contains("twice"));
        assert!(refused(&|s| s.connection = None).contains("needs a connection"));
        assert!(refused(&|s| s.connection = Some(Connection::Https {
            base_url: "https://user:pw@data.example.org/".into()
        }))
        .contains("credentials"));
        assert!(refused(&|s| s.connection = Some(Connection::Https {
            base_url: "http://data.example.org/".into()
        }))
        .contains("https"));
        assert!(
            refused(&|s| s.credentials_secret = Some("no spaces allowed".into()))
                .contains("credentialsSecret")
        );
        // Plain HTTP to this machine only where the deployment allows loopback (local servers,
        // tests).
        let mut local = https();
        local.connection = Some(Connection::Https {
            base_url: "http://127.0.0.1:8000/".into(),
        });
        assert!(local
            .validate(&AllowedNetworks::default())
            .unwrap_err()
            .contains("127.0.0.1 is loopback"));
        assert_eq!(local.validate(&loopback()), Ok(()));
    }

    #[test]
    fn postgres_and_s3_and_uploaded_sources_have_their_own_rules() {
        let mut pg = https();
        pg.objects.clear();
        pg.connection = Some(Connection::Postgres {
            host: "db.example.org".into(),
            port: 5432,
            database: "warehouse".into(),
            user: "reader".into(),
            table: "public.admissions".into(),
            format: ExportFormat::Csv,
            ca_certificate: None,
        });
        // Without a secret (trust or peer authentication) and with one.
        assert_eq!(pg.validate(&AllowedNetworks::default()), Ok(()));
        pg.credentials_secret = Some("tre/warehouse-reader".into());
        assert_eq!(pg.validate(&AllowedNetworks::default()), Ok(()));
        let mut bad = pg.clone();
        bad.connection = Some(Connection::Postgres {
            host: "db".into(),
            port: 5432,
            database: "warehouse".into(),
            user: "reader".into(),
            table: "admissions; drop table x".into(),
            format: ExportFormat::Parquet,
            ca_certificate: None,
        });
        assert!(bad
            .validate(&AllowedNetworks::default())
            .unwrap_err()
            .contains("identifier"));

        let mut s3 = https();
        s3.connection = Some(Connection::S3 {
            bucket: "Bad_Bucket".into(),
            prefix: "exports/".into(),
        });
        assert!(s3
            .validate(&AllowedNetworks::default())
            .unwrap_err()
            .contains("bucket"));

        let mut up = https();
        up.kind = DataSourceKind::Uploaded;
        assert!(up
            .validate(&AllowedNetworks::default())
            .unwrap_err()
            .contains("no connection"));
        up.connection = None;
        up.objects.clear();
        assert_eq!(up.validate(&AllowedNetworks::default()), Ok(()));
        // Unknown fields (a password, say) are refused when the body is read.
        let with_password = serde_json::from_value::<DataSourceSpec>(json!({
            "kind": "Import", "displayName": "x", "project": "p", "licence": "MIT",
            "publisher": {"organisation": "o", "contactName": "n", "contactRole": "r"},
            "connection": {"type": "postgres", "host": "h", "port": 5432, "database": "d",
                           "user": "u", "table": "t", "format": "csv", "password": "secret"}
        }));
        assert!(with_password.is_err());
    }

    #[test]
    fn every_kind_of_non_global_address_is_named_and_global_ones_pass() {
        let kind = |ip: &str| {
            let ip: IpAddr = ip.parse().unwrap_or_else(|e| panic!("{ip}: {e}"));
            special_purpose(ip).map(|c| c.to_string())
        };
        for (ip, expected) in [
            ("127.0.0.1", "loopback (127.0.0.0/8)"),
            ("169.254.170.2", "link-local (169.254.0.0/16)"),
            ("10.0.0.5", "private (10.0.0.0/8)"),
            ("172.31.255.255", "private (172.16.0.0/12)"),
            ("192.168.1.1", "private (192.168.0.0/16)"),
            ("100.64.0.1", "shared (carrier-grade NAT) (100.64.0.0/10)"),
            ("0.0.0.0", "\"this network\" (0.0.0.0/8)"),
            ("224.0.0.1", "multicast (224.0.0.0/4)"),
            ("255.255.255.255", "reserved (and broadcast) (240.0.0.0/4)"),
            ("192.0.2.7", "documentation (192.0.2.0/24)"),
            ("::1", "loopback (::1/128)"),
            ("::", "unspecified (::/128)"),
            ("fe80::1", "link-local (fe80::/10)"),
            ("fd00::1", "unique-local (fc00::/7)"),
            ("ff02::1", "multicast (ff00::/8)"),
            ("2001:db8::1", "documentation (2001:db8::/32)"),
            (
                "::ffff:127.0.0.1",
                "IPv4-mapped 127.0.0.1, which is loopback (127.0.0.0/8)",
            ),
            (
                "::ffff:169.254.170.2",
                "IPv4-mapped 169.254.170.2, which is link-local (169.254.0.0/16)",
            ),
            (
                "64:ff9b::a9fe:aa02",
                "NAT64 of 169.254.170.2, which is link-local (169.254.0.0/16)",
            ),
            (
                "2002:0a00:0005::",
                "6to4 of 10.0.0.5, which is private (10.0.0.0/8)",
            ),
            ("::10.0.0.5", "IPv4-compatible (deprecated) (::/96)"),
            ("4000::1", "not global unicast (outside 2000::/3)"),
        ] {
            assert_eq!(kind(ip).as_deref(), Some(expected), "{ip}");
        }
        for global in [
            "93.184.215.14",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert_eq!(kind(global), None, "{global}");
        }
    }

    #[test]
    fn allowed_networks_open_exactly_what_they_name() {
        let nets: AllowedNetworks = " 127.0.0.0/8, ::1 ,10.1.0.0/16"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(nets.to_string(), "127.0.0.0/8,::1/128,10.1.0.0/16");
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(nets.check(ip("127.0.0.1"), false), Ok(()));
        // The mapped form is the same destination as the IPv4 one.
        assert_eq!(nets.check(ip("::ffff:127.0.0.1"), false), Ok(()));
        assert_eq!(nets.check(ip("10.1.2.3"), true), Ok(()));
        assert!(nets.check(ip("10.2.0.1"), true).is_err());
        assert!(nets.allows_this_machine());
        // Globally routable: over TLS only.
        assert_eq!(nets.check(ip("93.184.215.14"), true), Ok(()));
        assert_eq!(
            nets.check(ip("93.184.215.14"), false).map_err(|e| e.to_string()),
            Err("93.184.215.14 is not in the allowed networks, and unencrypted connections go only to those".into())
        );
        let none = AllowedNetworks::default();
        assert!(none.is_empty() && !none.allows_this_machine());
        assert!(none
            .check(ip("::ffff:10.1.2.3"), true)
            .unwrap_err()
            .to_string()
            .starts_with("::ffff:10.1.2.3 is IPv4-mapped 10.1.2.3, which is private (10.0.0.0/8)"));
        let mapped: AllowedNetworks = "::ffff:10.0.0.0/104"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(mapped.to_string(), "10.0.0.0/8");
        let all: AllowedNetworks = "0.0.0.0/0,::/0".parse().unwrap_or_else(|e| panic!("{e}"));
        assert!(all.contains(ip("169.254.170.2")) && all.contains(ip("fe80::1")));
        for bad in [
            "10.0.0.5/8",
            "10.0.0.0/33",
            "example.org",
            "::1/129",
            "1.2.3.4/x",
        ] {
            assert!(bad.parse::<AllowedNetworks>().is_err(), "{bad}");
        }
        assert_eq!(
            "".parse::<AllowedNetworks>(),
            Ok(AllowedNetworks::default())
        );
    }

    #[test]
    fn registration_refuses_forbidden_literal_destinations_and_plain_http() {
        let refused = |url: &str, networks: &AllowedNetworks| {
            let mut s = https();
            s.connection = Some(Connection::Https {
                base_url: url.into(),
            });
            s.validate(networks).err().unwrap_or_default()
        };
        let none = AllowedNetworks::default();
        for (url, reason) in [
            ("https://169.254.170.2/", "169.254.170.2 is link-local (169.254.0.0/16)"),
            ("https://10.0.0.5/", "10.0.0.5 is private (10.0.0.0/8)"),
            ("https://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1 is IPv4-mapped 127.0.0.1, which is loopback"),
            ("https://[fe80::1]/", "fe80::1 is link-local (fe80::/10)"),
            ("https://[fd12::1]/", "fd12::1 is unique-local (fc00::/7)"),
            // The URL parser reads other spellings of IPv4 addresses as the addresses they are.
            ("https://2852039166/", "169.254.169.254 is link-local"),
            ("https://0x7f.1/", "127.0.0.1 is loopback"),
            ("https://localhost/", "`localhost` is this machine (loopback)"),
            ("https://db.LOCALHOST./", "is this machine (loopback)"),
            ("http://localhost:8080/", "is this machine (loopback)"),
            ("http://127.0.0.1:8080/", "127.0.0.1 is loopback (127.0.0.0/8)"),
            ("http://93.184.215.14/", "93.184.215.14 is not in the allowed networks, and unencrypted connections go only to those"),
            ("http://data.example.org/", "named by address (not `data.example.org`); use https"),
        ] {
            let got = refused(url, &none);
            assert!(got.contains(reason), "{url}: `{reason}` not in `{got}`");
            assert!(got.contains(url), "{url}: the field is not named in `{got}`");
        }
        // The allowed networks open them, plain http included (for addresses in them).
        let open: AllowedNetworks = "127.0.0.0/8,::1/128,169.254.0.0/16,10.0.0.0/8"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        for url in [
            "https://169.254.170.2/",
            "https://10.0.0.5/",
            "https://[::ffff:127.0.0.1]/",
            "http://localhost:8080/",
            "http://[::1]:8080/",
            "http://10.0.0.5/",
        ] {
            assert_eq!(refused(url, &open), "", "{url}");
        }
        assert!(refused("http://data.example.org/", &open).contains("use https"));
        assert_eq!(refused("https://data.example.org/", &none), "");

        // PostgreSQL hosts: literal addresses, localhost and sockets now, names at import.
        let pg_refused = |host: &str, ca: bool, networks: &AllowedNetworks| {
            let mut s = https();
            s.objects.clear();
            s.connection = Some(Connection::Postgres {
                host: host.into(),
                port: 5432,
                database: "warehouse".into(),
                user: "reader".into(),
                table: "admissions".into(),
                format: ExportFormat::Csv,
                ca_certificate: ca.then(|| "-----BEGIN CERTIFICATE-----\n".into()),
            });
            s.validate(networks).err().unwrap_or_default()
        };
        assert!(pg_refused("169.254.170.2", true, &none).contains("169.254.170.2 is link-local"));
        assert!(pg_refused("::ffff:10.0.0.5", true, &none).contains("IPv4-mapped 10.0.0.5"));
        assert!(pg_refused("localhost", false, &none).contains("loopback"));
        assert!(pg_refused("/var/run/postgresql", false, &none).contains("socket"));
        assert!(pg_refused("127.0.0.1", false, &none).contains("127.0.0.1 is loopback"));
        assert_eq!(pg_refused("127.0.0.1", false, &open), "");
        assert_eq!(pg_refused("/var/run/postgresql", false, &open), "");
        assert_eq!(pg_refused("db.example.org", true, &none), "");
    }
}
