import PixelRTS

/// One container file found by a scan. Immutable; a refresh makes new entries.
public struct CatalogEntry: Sendable, Equatable {
    /// First 12 hex digits of MD5(real path): the previous server's id scheme.
    public var id: String
    /// Index of the catalog root the file lives under (selects the nginx internal location).
    public var rootIndex: Int
    /// Path below the root's real path, `/`-separated. Never contains `..` or symlinks.
    public var relativePath: String
    /// Real path of the root; one string shared by all entries of a root (memory at 100k entries).
    public var rootRealPath: String
    public var size: Int64
    public var fileIdentity: FileIdentity
    public var metadata: ContainerMetadata
    /// Why the file is not a valid PNG; nil when it is.
    public var problem: String?

    public var isValid: Bool { problem == nil }

    /// Absolute, symlink-resolved path. Internal only: never sent to clients.
    public var realPath: String { rootRealPath == "/" ? "/" + relativePath : rootRealPath + "/" + relativePath }

    public var fileName: String {
        guard let slash = relativePath.utf8.lastIndex(of: UInt8(ascii: "/")) else { return relativePath }
        return String(relativePath[relativePath.utf8.index(after: slash)...])
    }

    /// Metadata `name`, else the file name without `.rts.png`.
    public var displayName: String {
        metadata.name ?? Self.stem(of: fileName)
    }

    public static func stem(of fileName: String) -> String {
        for suffix in [".rts.png", ".png"] where fileName.lowercased().hasSuffix(suffix) && fileName.count > suffix.count {
            return String(fileName.dropLast(suffix.count))
        }
        return fileName
    }

    public static func id(forRealPath path: String) -> String {
        String(Digest.hex(.md5, of: Array(path.utf8)).prefix(12))
    }

    public static func isWellFormedID(_ candidate: String) -> Bool {
        var count = 0
        for byte in candidate.utf8 {
            count += 1
            guard count <= 12, (0x30...0x39).contains(byte) || (0x61...0x66).contains(byte) else { return false }
        }
        return count == 12
    }
}

/// What identifies a file's content for incremental rescans: same device, inode, size and mtime.
public struct FileIdentity: Sendable, Equatable, Hashable {
    public var device: UInt64
    public var inode: UInt64
    public var size: Int64
    public var modifiedNanoseconds: Int64

    public init(device: UInt64, inode: UInt64, size: Int64, modifiedNanoseconds: Int64) {
        self.device = device
        self.inode = inode
        self.size = size
        self.modifiedNanoseconds = modifiedNanoseconds
    }
}
