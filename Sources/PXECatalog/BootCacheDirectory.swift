import Foundation
import PixelRTS
import StrictJSON

/// The boot cache on disk: one directory per prepared payload and layout, named by a digest of
/// both (identical containers share it), holding the parts nginx serves and a `manifest.json`
/// written last. A directory is assembled under a temporary name and renamed into place, so a
/// directory with a manifest is always complete; leftovers of a crash are removed at start.
package struct BootCacheDirectory: Sendable {
    package static let manifestName = "manifest.json"
    static let temporaryPrefix = ".tmp-"

    package let path: String

    package init(path: String) { self.path = path }

    /// What a cache directory holds, from its manifest.
    package struct Manifest: Sendable, Equatable {
        package var kind: BootPlan.Kind
        package var parts: [BootPart: Int64]
        package var dataHash: String
        package var reason: String?
        package var transposed: Bool
        /// Unix seconds; eviction takes the oldest unreferenced first.
        package var preparedAt: Int64
        /// SHA-256 of each container file verified against these parts. Another file claiming
        /// the same payload is decoded and verified itself before it shares them (a tampered copy
        /// must not borrow a good one's verdict); a listed one, after a restart, is not decoded again.
        package var verifiedContainers: [String]
        /// Whether a Linux payload's kernel carries an Authenticode signature (nil: not Linux).
        package var kernelSignature: KernelSignature? = nil

        package static let maximumVerifiedContainers = 64

        /// Bytes the directory takes on disk: its parts, less those that are links to the payload.
        package var cacheBytes: Int64 {
            var total = parts.values.reduce(Int64(0), +)
            // disk.img and kernel are links to the payload when they are all of it.
            if let disk = parts[.disk], disk == parts[.payload] { total -= disk }
            if let kernel = parts[.kernel], kernel == parts[.payload], parts[.initrd] == nil { total -= kernel }
            return max(total, 0)
        }
    }

    /// The directory name for a payload and the layout that cuts it into parts: the plan depends
    /// on both (segments and type), the command line does not (it stays per entry).
    package static func key(for layout: PixelRTSLayout) -> String? {
        guard let hash = layout.dataHash else { return nil }
        var text = "pxe-catalog boot cache v1\n\(hash)\n\(layout.dataSize)\n\(layout.type?.lowercased() ?? "")\n"
        for segment in layout.segments { text += "\(segment.name)=\(segment.start)-\(segment.end)\n" }
        return String(Digest.hex(.sha256, of: Array(text.utf8)).prefix(32))
    }

    static func isKey(_ name: String) -> Bool { Digest.isHex(name, length: 32) }

    package func create() throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        // nginx reads the parts: the directory must be searchable whatever the umask made it.
        chmod(path, 0o755)
    }

    /// Complete cache directories by key, with their manifests. Removes temporary leftovers and
    /// anything without a valid manifest (`cleaning`).
    package func load(cleaning: Bool) -> [String: Manifest] {
        var found: [String: Manifest] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
            let full = path + "/" + name
            if Self.isKey(name), let manifest = Self.readManifest(full + "/" + Self.manifestName) {
                found[name] = manifest
            } else if cleaning, name.hasPrefix(Self.temporaryPrefix) || Self.isKey(name) {
                try? FileManager.default.removeItem(atPath: full)
            }
        }
        return found
    }

    /// A new, empty temporary directory for assembling one entry.
    func makeTemporary() throws(DecodeError) -> String {
        var template = Array((path + "/" + Self.temporaryPrefix + "XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw DecodeError(storage: "cannot create a directory in the boot cache", code: errno)
        }
        let directory = String(cString: made)
        chmod(directory, 0o755)
        return directory
    }

    /// Moves an assembled directory into place. false when another one got there first (equal
    /// content by construction); the temporary one is removed then.
    func publish(_ temporary: String, key: String) throws(DecodeError) -> Bool {
        let target = path + "/" + key
        if rename(temporary, target) == 0 {
            syncDirectory(path)
            return true
        }
        let code = errno
        try? FileManager.default.removeItem(atPath: temporary)
        if code == EEXIST || code == ENOTEMPTY { return false }
        throw DecodeError(storage: "cannot move prepared parts into the boot cache", code: code)
    }

    /// Rewrites the manifest of a published directory (a new container verified against it).
    func replaceManifest(_ manifest: Manifest, key: String) throws(DecodeError) {
        let directory = path + "/" + key
        let temporary = directory + "/." + Self.manifestName + ".tmp"
        try Self.writeManifest(manifest, to: temporary)
        guard rename(temporary, directory + "/" + Self.manifestName) == 0 else {
            throw DecodeError.storage("cannot update a manifest in the boot cache", code: errno)
        }
        syncDirectory(directory)
    }

    // MARK: Thumbnails

    /// The directory of thumbnails below the cache, one `<SHA-256 of the container file>.png` each.
    package static let thumbnailDirectoryName = "thumbnails"

    var thumbnailDirectory: String { path + "/" + Self.thumbnailDirectoryName }

    /// Whether the thumbnail of the file with this content hash is in the cache. An empty file
    /// (the rename reached the disk before the data did, after a power loss) does not count.
    func hasThumbnail(_ hash: String) -> Bool {
        var status = stat()
        return stat(thumbnailDirectory + "/" + hash + ".png", &status) == 0 && status.st_size > 0
    }

    /// Puts a thumbnail in place (written to a temporary name and renamed). Not fsynced: a lost
    /// thumbnail is made again, and the boot path never reads one.
    func storeThumbnail(_ png: [UInt8], hash: String) throws(DecodeError) {
        let directory = thumbnailDirectory
        if mkdir(directory, 0o755) != 0 && errno != EEXIST {
            throw DecodeError.storage("cannot create the thumbnails directory in the boot cache", code: errno)
        }
        let temporary = directory + "/" + Self.temporaryPrefix + hash + ".png"
        do { try OutputFiles.write(png, to: temporary, sync: false) } catch {
            unlink(temporary)   // a full disk leaves nothing half-written
            throw error
        }
        guard rename(temporary, directory + "/" + hash + ".png") == 0 else {
            let code = errno
            unlink(temporary)
            throw DecodeError.storage("cannot move a thumbnail into place", code: code)
        }
    }

    /// Removes thumbnails of files no entry has any more (and leftovers of interrupted writes).
    func removeThumbnails(except kept: Set<String>) {
        removeFiles(in: thumbnailDirectory, suffix: ".png", except: kept)
    }

    /// Removes the analyses of files no entry has any more.
    func removeAnalyses(except kept: Set<String>) {
        removeFiles(in: analysisDirectory, suffix: ".json", except: kept)
    }

    private func removeFiles(in directory: String, suffix: String, except kept: Set<String>) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            let hash = name.hasSuffix(suffix) ? String(name.dropLast(suffix.count)) : ""
            if name.hasPrefix(Self.temporaryPrefix) || (Digest.isHex(hash, length: 64) && !kept.contains(hash)) {
                unlink(directory + "/" + name)
            }
        }
    }

    // MARK: Analyses

    package static let analysisDirectoryName = "analysis"

    var analysisDirectory: String { path + "/" + Self.analysisDirectoryName }

    func thumbnailPath(_ hash: String) -> String { thumbnailDirectory + "/" + hash + ".png" }

    /// A saved analysis of the file with this content hash, if there is a readable one.
    func readAnalysis(_ hash: String) -> ContainerAnalyzer.Result? {
        guard let data = FileManager.default.contents(atPath: analysisDirectory + "/" + hash + ".json") else { return nil }
        let result = ContainerAnalyzer.parse([UInt8](data), name: "saved")
        return result.problem == nil ? result : nil
    }

    /// Keeps a successful analysis (temporary name, renamed; not fsynced: it can be made again).
    func storeAnalysis(_ result: ContainerAnalyzer.Result, hash: String) throws(DecodeError) {
        let directory = analysisDirectory
        if mkdir(directory, 0o755) != 0 && errno != EEXIST {
            throw DecodeError.storage("cannot create the analysis directory in the boot cache", code: errno)
        }
        let document = JSONValue.object([("description", .string(orNull: result.description)),
                                         ("labels", .array(result.labels.map(JSONValue.string)))])
        let temporary = directory + "/" + Self.temporaryPrefix + hash + ".json"
        do { try OutputFiles.write(document.serialized(pretty: false), to: temporary, sync: false) } catch {
            unlink(temporary)
            throw error
        }
        guard rename(temporary, directory + "/" + hash + ".json") == 0 else {
            let code = errno
            unlink(temporary)
            throw DecodeError.storage("cannot move an analysis into place", code: code)
        }
    }

    package func remove(key: String) {
        guard Self.isKey(key) else { return }
        try? FileManager.default.removeItem(atPath: path + "/" + key)
    }

    static func writeManifest(_ manifest: Manifest, to path: String) throws(DecodeError) {
        let parts = BootPart.allCases.compactMap { part in manifest.parts[part].map { (part.rawValue, JSONValue.int($0)) } }
        let document = JSONValue.object([
            ("format", .string("pxe-catalog-boot-cache")), ("version", .int(1)),
            ("kind", .string(manifest.kind.rawValue)), ("parts", .object(parts)),
            ("data_hash", .string(manifest.dataHash)), ("reason", .string(orNull: manifest.reason)),
            ("transposed", .bool(manifest.transposed)), ("prepared_at", .int(manifest.preparedAt)),
            ("verified_containers", .array(manifest.verifiedContainers.map(JSONValue.string))),
        ] + (manifest.kernelSignature.map { signature in
            switch signature {
            case let .signed(signer): return [("kernel_signature", .object([("signed", .bool(true)), ("signer", .string(orNull: signer))]))]
            case let .unsigned(problem): return [("kernel_signature", .object([("signed", .bool(false)), ("problem", .string(orNull: problem))]))]
            }
        } ?? []))
        try OutputFiles.write(document.serialized(pretty: true), to: path)
    }

    static func readManifest(_ path: String) -> Manifest? {
        guard let data = FileManager.default.contents(atPath: path), let document = try? JSONParser.parse([UInt8](data)),
              document["format"] == .string("pxe-catalog-boot-cache"), document["version"] == .int(1),
              let kind = document["kind"]?.stringValue.flatMap(BootPlan.Kind.init(rawValue:)),
              case let .object(members)? = document["parts"], let hash = document["data_hash"]?.stringValue else { return nil }
        var parts: [BootPart: Int64] = [:]
        for (name, value) in members {
            guard let part = BootPart(rawValue: name), let size = value.intValue else { return nil }
            parts[part] = size
        }
        var verified: [String] = []
        if case let .array(items)? = document["verified_containers"] { verified = items.compactMap(\.stringValue) }
        var manifest = Manifest(kind: kind, parts: parts, dataHash: hash, reason: document["reason"]?.stringValue,
                                transposed: document["transposed"] == .bool(true), preparedAt: document["prepared_at"]?.intValue ?? 0,
                                verifiedContainers: verified)
        if let signature = document["kernel_signature"] {
            manifest.kernelSignature = signature["signed"] == .bool(true)
                ? .signed(signer: signature["signer"]?.stringValue) : .unsigned(problem: signature["problem"]?.stringValue)
        } else if kind == .linux, parts[.kernel] != nil {
            // Prepared by a version that did not look: look now (headers and the table only).
            manifest.kernelSignature = KernelSignature.read(path: (path as NSString).deletingLastPathComponent + "/" + BootPart.kernel.fileName)
        }
        return manifest
    }

    func syncDirectory(_ directory: String) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}

/// Small whole-file writes and part copies for the cache, with errors of kind `.storage`.
enum OutputFiles {
    static func write(_ bytes: [UInt8], to path: String, sync: Bool = true) throws(DecodeError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw DecodeError.storage("cannot create \((path as NSString).lastPathComponent) in the boot cache", code: errno) }
        defer { close(fd) }
        fchmod(fd, 0o644)   // nginx reads the cache; the service's umask is 0027
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw DecodeError.storage("cannot write to the boot cache", code: n < 0 ? errno : ENOSPC) }
            done += n
        }
        guard !sync || fsync(fd) == 0 else { throw DecodeError.storage("cannot flush the boot cache to disk", code: errno) }
    }

    /// Copies `range` of the file at `source` into a new file at `target`, extended (sparsely) to
    /// `minimum` bytes when it is shorter.
    static func copy(_ source: String, range: Range<Int64>, to target: String, paddedTo minimum: Int64 = 0) throws(DecodeError) {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw DecodeError.storage("cannot read the payload back", code: errno) }
        defer { close(input) }
        let output = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw DecodeError.storage("cannot create a part in the boot cache", code: errno) }
        defer { close(output) }
        fchmod(output, 0o644)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset = range.lowerBound
        while offset < range.upperBound {
            let want = Int(min(Int64(buffer.count), range.upperBound - offset))
            let n = buffer.withUnsafeMutableBytes { pread(input, $0.baseAddress, want, off_t(offset)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw DecodeError.storage("cannot read the payload back", code: n < 0 ? errno : EIO) }
            var written = 0
            while written < n {
                let m = buffer.withUnsafeBytes { pwrite(output, $0.baseAddress! + written, n - written, off_t(offset - range.lowerBound) + off_t(written)) }
                if m < 0 && errno == EINTR { continue }
                guard m > 0 else { throw DecodeError.storage("cannot write a part to the boot cache", code: m < 0 ? errno : ENOSPC) }
                written += m
            }
            offset += Int64(n)
        }
        // A sparse tail: SAN boot needs at least a cylinder or two, which costs no disk space.
        if minimum > Int64(range.count) {
            guard ftruncate(output, off_t(minimum)) == 0 else { throw DecodeError.storage("cannot extend a disk image", code: errno) }
        }
        guard fsync(output) == 0 else { throw DecodeError.storage("cannot flush the boot cache to disk", code: errno) }
    }
}
