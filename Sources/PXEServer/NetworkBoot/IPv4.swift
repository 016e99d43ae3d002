/// An IPv4 address, parsed strictly (four decimal octets, no leading zeros that could be read
/// as octal elsewhere, nothing around them).
package struct IPv4Address: Sendable, Equatable, Comparable, CustomStringConvertible {
    package let value: UInt32

    package init(value: UInt32) { self.value = value }

    package init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  part.count == 1 || part.first != "0", let octet = UInt32(part), octet <= 255 else { return nil }
            value = value << 8 | octet
        }
        self.value = value
    }

    package var description: String {
        "\(value >> 24).\(value >> 16 & 0xFF).\(value >> 8 & 0xFF).\(value & 0xFF)"
    }

    package static func < (a: IPv4Address, b: IPv4Address) -> Bool { a.value < b.value }
}

/// An IPv4 subnet: an address with its prefix length, as an interface holds it.
package struct IPv4Network: Sendable, Equatable, CustomStringConvertible {
    package let address: IPv4Address
    package let prefixLength: Int

    package init(address: IPv4Address, prefixLength: Int) {
        self.address = address
        self.prefixLength = max(0, min(32, prefixLength))
    }

    package var mask: IPv4Address { IPv4Address(value: prefixLength == 0 ? 0 : UInt32.max << (32 - prefixLength)) }
    package var network: IPv4Address { IPv4Address(value: address.value & mask.value) }
    package var broadcast: IPv4Address { IPv4Address(value: network.value | ~mask.value) }

    /// Whether `other` is a host address of this subnet (not its network or broadcast address).
    package func containsHost(_ other: IPv4Address) -> Bool {
        other.value & mask.value == network.value && (prefixLength >= 31 || (other != network && other != broadcast))
    }

    package var description: String { "\(address)/\(prefixLength)" }
}

/// The addresses server mode hands out: `START-END`.
package struct DHCPRange: Sendable, Equatable, CustomStringConvertible {
    package let start: IPv4Address
    package let end: IPv4Address

    package init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let start = IPv4Address(String(parts[0]).trimmingSpaces()),
              let end = IPv4Address(String(parts[1]).trimmingSpaces()), start <= end else { return nil }
        self.start = start
        self.end = end
    }

    package var description: String { "\(start)-\(end)" }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        var text = Substring(self)
        while text.first == " " { text.removeFirst() }
        while text.last == " " { text.removeLast() }
        return String(text)
    }
}
