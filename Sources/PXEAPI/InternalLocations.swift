/// The nginx `internal` locations that X-Accel-Redirect points at: one per catalog root, plus one
/// for the `/files` root when it is not also a catalog root. The worker and the generated nginx
/// configuration both derive them from here, so they cannot disagree.
package struct InternalLocations: Sendable, Equatable {
    /// URI prefix of all internal locations, starting and ending with `/`.
    package let prefix: String
    /// Directory served by each location, by index.
    package let directories: [String]
    /// Index of the location that serves the `/files` root.
    package let filesRootIndex: Int

    package init(prefix: String, catalogRoots: [String], filesRoot: String) {
        var normalised = prefix
        if !normalised.hasPrefix("/") { normalised = "/" + normalised }
        if !normalised.hasSuffix("/") { normalised += "/" }
        self.prefix = normalised
        if let index = catalogRoots.firstIndex(of: filesRoot) {
            directories = catalogRoots
            filesRootIndex = index
        } else {
            directories = catalogRoots + [filesRoot]
            filesRootIndex = catalogRoots.count
        }
    }

    /// The location URI for directory `index`, e.g. `/_pxe_internal/0/`.
    package func locationURI(index: Int) -> String { "\(prefix)\(index)/" }

    /// The location over the boot cache (prepared kernels, initrds, disk images, payloads).
    package var cacheLocationURI: String { "\(prefix)cache/" }

    /// The X-Accel-Redirect value for a part in the boot cache (key and file name are ours: hex
    /// digits and fixed names, nothing to encode).
    package func cacheRedirectURI(key: String, fileName: String) -> String { cacheLocationURI + key + "/" + fileName }

    /// The X-Accel-Redirect value for a file below directory `index`: absolute, with every path
    /// segment percent-encoded (nginx decodes the value; a raw `%` or `?` would break it).
    package func redirectURI(index: Int, relativePath: String) -> String {
        locationURI(index: index) + relativePath.split(separator: "/", omittingEmptySubsequences: true)
            .map { Self.percentEncode($0) }.joined(separator: "/")
    }

    /// Percent-encodes every byte outside RFC 3986's unreserved set.
    package static func percentEncode(_ segment: some StringProtocol) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in segment.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(byte)
            default:
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
