import Foundation

/// Finds container files under the catalog roots and reads their metadata.
///
/// Directories are walked without following directory symlinks (no loops). A file symlink is
/// followed only when its target stays inside the same root. Hidden names (leading `.`, e.g.
/// rsync's partial files) and sidecar files (`*.meta.json`, `*.blueprint.json`) are skipped.
/// Files whose device, inode, size and mtime match the previous snapshot are not reopened.
public struct CatalogScanner: Sendable {
    public var roots: [String]
    public var pattern: String
    public var reader: PNGMetadataReader

    public init(roots: [String], pattern: String = "*.rts.png", reader: PNGMetadataReader = PNGMetadataReader()) {
        self.roots = roots
        self.pattern = pattern
        self.reader = reader
    }

    public struct Result: Sendable {
        public var entries: [CatalogEntry]
        /// Roots that could not be read, with the reason; their entries are absent.
        public var rootProblems: [String]
        public var parsedCount: Int
        public var reusedCount: Int
        /// Files left out (or kept at their previous state) because they changed too recently.
        public var deferredCount: Int = 0
    }

    struct Candidate: Sendable {
        var rootIndex: Int
        var relativePath: String
        var realPath: String
        var identity: FileIdentity
    }

    /// `settledBefore`: files modified at or after this time (ns since the epoch) may still be
    /// being written; they are skipped, or kept as they were in `previous`, and counted.
    public func scan(previous: CatalogSnapshot? = nil, settledBefore: Int64? = nil) -> Result {
        var candidates: [Candidate] = []
        var rootProblems: [String] = []
        var seenRealPaths = Set<String>()
        for (rootIndex, root) in roots.enumerated() {
            guard let realRoot = Self.realPath(root) else {
                rootProblems.append("catalog root \(root) cannot be resolved: \(String(cString: strerror(errno)))")
                continue
            }
            walk(root: realRoot, rootIndex: rootIndex, into: &candidates, seen: &seenRealPaths, problems: &rootProblems)
        }

        // Reuse unchanged entries; parse the rest on all cores.
        var entries = [CatalogEntry?](repeating: nil, count: candidates.count)
        var toParse: [Int] = []
        var deferred = 0
        for (index, candidate) in candidates.enumerated() {
            if let settledBefore, candidate.identity.modifiedNanoseconds >= settledBefore {
                deferred += 1
                entries[index] = previous?.entry(realPath: candidate.realPath)
                continue
            }
            if let old = previous?.entry(realPath: candidate.realPath), old.fileIdentity == candidate.identity,
               old.rootIndex == candidate.rootIndex {
                entries[index] = old
            } else {
                toParse.append(index)
            }
        }
        let parsed = ParallelResults<CatalogEntry?>(count: toParse.count)
        let reader = self.reader
        let work = toParse.map { candidates[$0] }
        DispatchQueue.concurrentPerform(iterations: work.count) { i in
            parsed.set(i, Self.makeEntry(work[i], reader: reader))
        }
        for (i, index) in toParse.enumerated() { entries[index] = parsed.values[i] ?? nil }

        let found = entries.compactMap { $0 }
        return Result(entries: found, rootProblems: rootProblems, parsedCount: toParse.count,
                      reusedCount: candidates.count - toParse.count - deferred, deferredCount: deferred)
    }

    /// Reads one file. nil when it vanished or stopped being a regular file since the walk.
    static func makeEntry(_ candidate: Candidate, reader: PNGMetadataReader) -> CatalogEntry? {
        guard let source = FileByteSource(path: candidate.realPath) else { return nil }
        let inspection = reader.inspect(source)
        return CatalogEntry(
            id: CatalogEntry.id(forRealPath: candidate.realPath),
            rootIndex: candidate.rootIndex,
            relativePath: candidate.relativePath,
            realPath: candidate.realPath,
            size: source.size,
            fileIdentity: FileIdentity(status: source.status),
            metadata: ContainerMetadata.from(textChunks: inspection.textChunks),
            problem: inspection.problem
        )
    }

    public func matches(fileName name: String) -> Bool {
        if name.hasPrefix(".") || name.hasSuffix(".meta.json") || name.hasSuffix(".blueprint.json") { return false }
        return fnmatch(pattern, name, 0) == 0
    }

    private func walk(root: String, rootIndex: Int, into candidates: inout [Candidate], seen: inout Set<String>, problems: inout [String]) {
        var pending: [String] = [""]   // directories relative to root
        while let relativeDirectory = pending.popLast() {
            let directory = relativeDirectory.isEmpty ? root : root + "/" + relativeDirectory
            guard let handle = opendir(directory) else {
                if relativeDirectory.isEmpty {
                    problems.append("catalog root \(root) cannot be read: \(String(cString: strerror(errno)))")
                }
                continue
            }
            defer { closedir(handle) }
            var names: [(String, UInt8)] = []
            while let entry = readdir(handle) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
                }
                if name == "." || name == ".." || name.hasPrefix(".") { continue }
                names.append((name, entry.pointee.d_type))
            }
            for (name, type) in names.sorted(by: { $0.0 < $1.0 }) {
                let relative = relativeDirectory.isEmpty ? name : relativeDirectory + "/" + name
                let full = root + "/" + relative
                var info = stat()
                switch Int32(type) {
                case Int32(DT_DIR):
                    pending.append(relative)
                    continue
                case Int32(DT_REG), Int32(DT_LNK), Int32(DT_UNKNOWN):
                    guard matches(fileName: name) else {
                        if Int32(type) == Int32(DT_UNKNOWN), lstat(full, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
                            pending.append(relative)
                        }
                        continue
                    }
                default:
                    continue
                }
                guard lstat(full, &info) == 0 else { continue }
                var realPath = full
                var relativeReal = relative
                switch info.st_mode & S_IFMT {
                case S_IFREG:
                    break
                case S_IFDIR:
                    pending.append(relative)
                    continue
                case S_IFLNK:
                    // Follow a file symlink only when its target stays inside this root.
                    guard let resolved = Self.realPath(full), resolved.hasPrefix(root + "/"),
                          stat(resolved, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
                    realPath = resolved
                    relativeReal = String(resolved.dropFirst(root.count + 1))
                default:
                    continue
                }
                guard seen.insert(realPath).inserted else { continue }
                candidates.append(Candidate(rootIndex: rootIndex, relativePath: relativeReal, realPath: realPath,
                                            identity: FileIdentity(status: info)))
            }
        }
        candidates.sort { ($0.rootIndex, $0.relativePath) < ($1.rootIndex, $1.relativePath) }
    }

    public static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

extension FileIdentity {
    public init(status info: stat) {
        self.init(device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
                  modifiedNanoseconds: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec))
    }
}

/// Slots written once each from `concurrentPerform`; each index is owned by one iteration,
/// so raw storage (not a Swift array, whose exclusivity checks would trap) is safe here.
final class ParallelResults<Value>: @unchecked Sendable {
    private let storage: UnsafeMutablePointer<Value?>
    let count: Int

    init(count: Int) {
        self.count = count
        storage = .allocate(capacity: max(count, 1))
        storage.initialize(repeating: nil, count: count)
    }

    deinit {
        storage.deinitialize(count: count)
        storage.deallocate()
    }

    func set(_ index: Int, _ value: Value) { storage[index] = value }

    var values: [Value?] { Array(UnsafeBufferPointer(start: storage, count: count)) }
}
