//! Parsing of the `--disk`, `--net` and `--device` options (QEMU-like spelling).

use std::path::PathBuf;

use spapr::{NetBackendConfig, PciDeviceConfig};

fn parse_bool(key: &str, v: &str) -> Result<bool, String> {
    match v {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err(format!("{key}={v}: expected on or off")),
    }
}

/// Splits `a=b,c=d` into pairs; a bare word is `(word, "")`.
fn pairs(s: &str) -> impl Iterator<Item = (&str, &str)> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// `path=FILE[,readonly=on][,iommu=off]` (a bare first word is the path).
pub fn parse_disk(s: &str) -> Result<PciDeviceConfig, String> {
    let (mut path, mut readonly, mut iommu) = (None, false, true);
    for (i, (k, v)) in pairs(s).enumerate() {
        match (k, v) {
            ("path" | "file", p) if !p.is_empty() => path = Some(PathBuf::from(p)),
            (p, "") if i == 0 => path = Some(PathBuf::from(p)),
            ("readonly", "") => readonly = true,
            ("readonly", v) => readonly = parse_bool(k, v)?,
            ("iommu", v) => iommu = parse_bool(k, v)?,
            _ => {
                return Err(format!(
                    "--disk: unknown option '{k}' (path=, readonly=, iommu=)"
                ));
            }
        }
    }
    let path = path.ok_or("--disk needs path=FILE")?;
    Ok(PciDeviceConfig::Disk {
        path,
        readonly,
        iommu,
    })
}

/// `user[,iommu=off]` or `tap,ifname=NAME[,iommu=off]`.
pub fn parse_net(s: &str) -> Result<PciDeviceConfig, String> {
    let mut it = pairs(s);
    let user = match it.next() {
        Some(("tap", "")) => false,
        Some(("user", "")) => true,
        Some((b, _)) => {
            return Err(format!(
                "--net: unsupported backend '{b}' (user, or tap,ifname=NAME)"
            ));
        }
        None => return Err("--net needs user or tap,ifname=NAME".into()),
    };
    let (mut ifname, mut iommu) = (None, true);
    for (k, v) in it {
        match k {
            "ifname" if !user && !v.is_empty() && v.len() < 16 => ifname = Some(v.to_string()),
            "ifname" if !user => {
                return Err(format!("--net: bad interface name '{v}' (1 to 15 bytes)"));
            }
            "iommu" => iommu = parse_bool(k, v)?,
            _ => {
                return Err(format!(
                    "--net: unknown option '{k}' (ifname= for tap, iommu=)"
                ));
            }
        }
    }
    let backend = if user {
        NetBackendConfig::User
    } else {
        NetBackendConfig::Tap(ifname.ok_or("--net tap needs ifname=NAME")?)
    };
    Ok(PciDeviceConfig::Net { backend, iommu })
}

/// `virtio-rng[,iommu=off]` or `virtio-console[,iommu=off]` (`-pci` suffix accepted).
pub fn parse_device(s: &str) -> Result<PciDeviceConfig, String> {
    let mut it = pairs(s);
    let kind = it.next().map(|(k, _)| k).unwrap_or("");
    let mut iommu = true;
    for (k, v) in it {
        match k {
            "iommu" => iommu = parse_bool(k, v)?,
            _ => return Err(format!("--device {kind}: unknown option '{k}' (iommu=)")),
        }
    }
    match kind.trim_end_matches("-pci") {
        "virtio-rng" => Ok(PciDeviceConfig::Rng { iommu }),
        "virtio-console" | "virtio-serial" => Ok(PciDeviceConfig::Console { iommu }),
        _ => Err(format!(
            "--device: unknown device '{kind}' (virtio-rng, virtio-console)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_options() {
        assert_eq!(
            parse_disk("path=/tmp/a.img").unwrap(),
            PciDeviceConfig::Disk {
                path: "/tmp/a.img".into(),
                readonly: false,
                iommu: true
            }
        );
        assert_eq!(
            parse_disk("/tmp/a.img,readonly=on,iommu=off").unwrap(),
            PciDeviceConfig::Disk {
                path: "/tmp/a.img".into(),
                readonly: true,
                iommu: false
            }
        );
        assert!(parse_disk("readonly=on").is_err());
        assert!(parse_disk("path=x,readonly=maybe").is_err());
        assert!(parse_disk("path=x,cache=none").is_err());
    }

    #[test]
    fn net_and_device_options() {
        assert_eq!(
            parse_net("tap,ifname=tap0").unwrap(),
            PciDeviceConfig::Net {
                backend: NetBackendConfig::Tap("tap0".into()),
                iommu: true
            }
        );
        assert_eq!(
            parse_net("user,iommu=off").unwrap(),
            PciDeviceConfig::Net {
                backend: NetBackendConfig::User,
                iommu: false
            }
        );
        assert!(parse_net("user,ifname=x").is_err());
        assert!(parse_net("slirp").is_err());
        assert!(parse_net("tap").is_err());
        assert!(parse_net("tap,ifname=0123456789abcdefg").is_err());
        assert_eq!(
            parse_device("virtio-rng-pci").unwrap(),
            PciDeviceConfig::Rng { iommu: true }
        );
        assert_eq!(
            parse_device("virtio-console,iommu=off").unwrap(),
            PciDeviceConfig::Console { iommu: false }
        );
        assert!(parse_device("e1000").is_err());
    }
}
