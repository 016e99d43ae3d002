import PixelRTS
import PXESettings

/// One container file found by a scan. Immutable; a refresh makes new entries.
package struct CatalogEntry: Sendable, Equatable {
    /// First 12 hex digits of MD5(real path): the previous server's id scheme.
    package var id: String
    /// Index of the catalog root the file lives under (selects the nginx internal location).
    package var rootIndex: Int
    /// Path below the root's real path, `/`-separated. Never contains `..` or symlinks.
    package var relativePath: String
    /// Real path of the root; one string shared by all entries of a root (memory at 100k entries).
    package var rootRealPath: String
    package var size: Int64
    package var fileIdentity: FileIdentity
    package var metadata: ContainerMetadata
    /// Why the file is not a valid PNG; nil when it is.
    package var problem: String?

    package var isValid: Bool { problem == nil }

    /// Absolute, symlink-resolved path. Internal only: never sent to clients.
    package var realPath: String { rootRealPath == "/" ? "/" + relativePath : rootRealPath + "/" + relativePath }

    package var fileName: String {
        guard let slash = relativePath.utf8.lastIndex(of: UInt8(ascii: "/")) else { return relativePath }
        return String(relativePath[relativePath.utf8.index(after: slash)...])
    }

    /// Metadata `name`, else the file name without `.rts.png`.
    package var displayName: String {
        metadata.name ?? Self.stem(of: fileName)
    }

    package static func stem(of fileName: String) -> String {
        for suffix in [".rts.png", ".png"] where fileName.lowercased().hasSuffix(suffix) && fileName.count > suffix.count {
            return String(fileName.dropLast(suffix.count))
        }
        return fileName
    }

    package static func id(forRealPath path: String) -> String {
        String(Digest.hex(.md5, of: Array(path.utf8)).prefix(12))
    }

    package static func isWellFormedID(_ candidate: String) -> Bool { EntryID.isWellFormed(candidate) }
}

/// What identifies a file's content for incremental rescans: same device, inode, size and mtime.
package struct FileIdentity: Sendable, Equatable, Hashable {
    package var device: UInt64
    package var inode: UInt64
    package var size: Int64
    package var modifiedNanoseconds: Int64

    package init(device: UInt64, inode: UInt64, size: Int64, modifiedNanoseconds: Int64) {
        self.device = device
        self.inode = inode
        self.size = size
        self.modifiedNanoseconds = modifiedNanoseconds
    }
}
