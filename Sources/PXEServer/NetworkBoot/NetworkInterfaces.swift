import Glibc

/// What the machine's network interfaces are, from `getifaddrs`: the one call that asks the
/// kernel, kept apart so that the generator stays a pure function of its inputs.
package enum NetworkInterfaces {
    /// The IPv4 subnets of interface `name`, in the kernel's order; nil when there is no such
    /// interface (an empty list: it exists but has no IPv4 address).
    package static func ipv4Networks(of name: String) -> [IPv4Network]? {
        var first: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&first) == 0 else { return nil }
        defer { freeifaddrs(first) }
        var found = false
        var networks: [IPv4Network] = []
        var cursor = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard String(cString: entry.pointee.ifa_name) == name else { continue }
            found = true
            guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET),
                  let mask = entry.pointee.ifa_netmask else { continue }
            let host = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
            let bits = mask.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
            networks.append(IPv4Network(address: IPv4Address(value: host), prefixLength: bits.nonzeroBitCount))
        }
        return found ? networks : nil
    }

    /// Whether interface `name` has an IPv6 address other than a link-local one (router
    /// advertisements announce its /64).
    package static func hasRoutableIPv6Address(_ name: String) -> Bool {
        var first: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&first) == 0 else { return false }
        defer { freeifaddrs(first) }
        var cursor = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard String(cString: entry.pointee.ifa_name) == name, let address = entry.pointee.ifa_addr,
                  address.pointee.sa_family == sa_family_t(AF_INET6) else { continue }
            let bytes = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                withUnsafeBytes(of: pointer.pointee.sin6_addr) { Array($0) }
            }
            // fe80::/10 is link-local.
            if !(bytes[0] == 0xFE && bytes[1] & 0xC0 == 0x80) { return true }
        }
        return false
    }
}
