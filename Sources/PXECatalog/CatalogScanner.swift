import Foundation
import PixelRTS

/// Finds container files under the catalog roots and reads their metadata.
///
/// Directories are walked without following directory symlinks (no loops). A file symlink is
/// followed only when its target stays inside the same root. Hidden names (leading `.`, e.g.
/// rsync's partial files) and sidecar files (`*.meta.json`, `*.blueprint.json`) are skipped.
/// Files whose device, inode, size and mtime match the previous snapshot are not reopened.
package struct CatalogScanner: Sendable {
    package var roots: [String]
    package var pattern: String
    package var reader: PNGMetadataReader

    package init(roots: [String], pattern: String = "*.rts.png", reader: PNGMetadataReader = PNGMetadataReader()) {
        self.roots = roots
        self.pattern = pattern
        self.reader = reader
    }

    package struct Result: Sendable {
        package var entries: [CatalogEntry]
        /// Roots that could not be read, with the reason; their entries are absent.
        package var rootProblems: [String]
        package var parsedCount: Int
        package var reusedCount: Int
        /// Files left out (or kept at their previous state) because they may still be being written.
        package var deferredCount: Int = 0
        /// What was seen of the files with a recent (or future) mtime, for the next scan's `SettleCheck`.
        package var observations: [String: SettleCheck.Observation] = [:]
    }

    /// Decides whether a file may still be being written: from what changed between two
    /// observations, not from its mtime alone (an mtime in the future would defer it forever).
    /// A file is settled when its mtime is at least `settle` in the past, or when it looks the
    /// same (device, inode, size, mtime) as when a scan at least `settle` earlier deferred it.
    package struct SettleCheck: Sendable {
        package struct Observation: Sendable, Equatable {
            package var identity: FileIdentity
            /// Monotonic time (ns) at which this identity was seen.
            package var since: UInt64
        }

        package var settleNanoseconds: Int64
        /// Files with a recent mtime as the previous scan saw them, by `key(rootIndex:relativePath:)`.
        package var observations: [String: Observation]

        package init(settle: Duration, observations: [String: Observation] = [:]) {
            settleNanoseconds = settle.components.seconds * 1_000_000_000 + settle.components.attoseconds / 1_000_000_000
            self.observations = observations
        }

        package static func key(rootIndex: Int, relativePath: String) -> String { "\(rootIndex)/\(relativePath)" }
    }

    struct Candidate: Sendable {
        var rootIndex: Int
        var rootRealPath: String
        var relativePath: String
        var identity: FileIdentity
        var realPath: String { rootRealPath + "/" + relativePath }
    }

    /// Called after the directory walk and before any file is read (tests make files change
    /// or vanish at exactly that moment, or hold a scan there).
    package var afterWalk: (@Sendable () -> Void)?

    /// `settle`: files that may still be being written are skipped, or kept as they were in
    /// `previous`, and counted (see `SettleCheck`); nil reads every file now.
    /// The scan runs at background CPU priority (see `BackgroundWork`).
    package func scan(previous: CatalogSnapshot? = nil, settle: SettleCheck? = nil) -> Result {
        BackgroundWork.run { scanNow(previous: previous, settle: settle) }
    }

    private func scanNow(previous: CatalogSnapshot?, settle: SettleCheck?) -> Result {
        let walkStarted = Self.monotonicNanoseconds()
        let wallNow = Self.wallClockNanoseconds()
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
        // Every identity was read before this instant: an observation recorded with it is
        // never older than it claims.
        let walkEnded = Self.monotonicNanoseconds()
        afterWalk?()

        // Reuse unchanged entries; parse the rest on all cores.
        var entries = [CatalogEntry?](repeating: nil, count: candidates.count)
        var toParse: [Int] = []
        var deferred = 0
        var observations: [String: SettleCheck.Observation] = [:]
        // Candidates and the previous entries are both ordered by (root, relative path):
        // match them in one pass instead of keeping a path index for every entry.
        let old = previous?.entries ?? []
        var cursor = 0
        func previousEntry(_ candidate: Candidate) -> CatalogEntry? {
            while cursor < old.count, (old[cursor].rootIndex, old[cursor].relativePath) < (candidate.rootIndex, candidate.relativePath) {
                cursor += 1
            }
            guard cursor < old.count, old[cursor].rootIndex == candidate.rootIndex, old[cursor].relativePath == candidate.relativePath else { return nil }
            return old[cursor]
        }
        for (index, candidate) in candidates.enumerated() {
            if let settle, candidate.identity.modifiedNanoseconds > wallNow - settle.settleNanoseconds {
                let key = SettleCheck.key(rootIndex: candidate.rootIndex, relativePath: candidate.relativePath)
                let seen = settle.observations[key]
                let unchanged = seen?.identity == candidate.identity
                // Kept while the mtime looks recent, settled or not: a file dated in the future
                // stays settled for as long as it does not change.
                observations[key] = unchanged ? seen! : SettleCheck.Observation(identity: candidate.identity, since: walkEnded)
                if !(unchanged && Int64(walkStarted) - Int64(seen!.since) >= settle.settleNanoseconds) {
                    deferred += 1
                    entries[index] = previousEntry(candidate)
                    continue
                }
            }
            if let unchanged = previousEntry(candidate), unchanged.fileIdentity == candidate.identity {
                entries[index] = unchanged
            } else {
                toParse.append(index)
            }
        }
        let parsed = ParallelResults<CatalogEntry?>(count: toParse.count)
        let reader = self.reader
        let work = toParse.map { candidates[$0] }
        DispatchQueue.concurrentPerform(iterations: work.count) { i in
            BackgroundWork.lowerCurrentThread()
            parsed.set(i, Self.makeEntry(work[i], reader: reader))
        }
        let values = parsed.values
        for (i, index) in toParse.enumerated() { entries[index] = values[i] ?? nil }

        let found = entries.compactMap { $0 }
        return Result(entries: found, rootProblems: rootProblems, parsedCount: toParse.count,
                      reusedCount: candidates.count - toParse.count - deferred, deferredCount: deferred, observations: observations)
    }

    static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    static func wallClockNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    /// Reads one file. nil when it vanished or stopped being a regular file since the walk.
    static func makeEntry(_ candidate: Candidate, reader: PNGMetadataReader) -> CatalogEntry? {
        let realPath = candidate.realPath
        guard let source = FileByteSource(path: realPath) else { return nil }
        let inspection = reader.inspect(source)
        var metadata = ContainerMetadata.from(textChunks: inspection.textChunks)
        if !inspection.warnings.isEmpty {
            metadata.warnings = inspection.warnings + metadata.warnings
            metadata.capFields()
        }
        return CatalogEntry(
            id: CatalogEntry.id(forRealPath: realPath),
            rootIndex: candidate.rootIndex,
            relativePath: candidate.relativePath,
            rootRealPath: candidate.rootRealPath,
            size: source.size,
            fileIdentity: FileIdentity(status: source.status),
            metadata: metadata,
            problem: inspection.problem
        )
    }

    package func matches(fileName name: String) -> Bool {
        name.withCString { matches(cFileName: $0) }
    }

    /// Sidecar files next to containers (never containers themselves), as bytes.
    static let sidecarSuffixes: [[UInt8]] = [Array(".meta.json".utf8), Array(".blueprint.json".utf8)]

    /// Pattern match on a C string; hidden names and sidecar files never match.
    func matches(cFileName name: UnsafePointer<CChar>) -> Bool {
        if name[0] == 0x2E { return false }
        let length = strlen(name)
        for suffix in Self.sidecarSuffixes where length >= suffix.count {
            if memcmp(name + (length - suffix.count), suffix, suffix.count) == 0 { return false }
        }
        return fnmatch(pattern, name, 0) == 0
    }

    /// Walks one root: the root's own files here, each top-level subtree on its own core.
    private func walk(root: String, rootIndex: Int, into candidates: inout [Candidate], seen: inout Set<String>, problems: inout [String]) {
        var subtrees: [String] = []
        guard var found = walkDirectory(root: root, rootIndex: rootIndex, start: "", recurse: false, subdirectories: &subtrees) else {
            problems.append("catalog root \(root) cannot be read: \(String(cString: strerror(errno)))")
            return
        }
        // Walk down (one thread) until there are enough directories for every core: a root
        // that holds one directory of many (`images/batch-*/`) is otherwise walked by one.
        var depth = 0
        while !subtrees.isEmpty, subtrees.count < Self.parallelWalkWidth, depth < Self.serialWalkDepth {
            var next: [String] = []
            for directory in subtrees {
                found += walkDirectory(root: root, rootIndex: rootIndex, start: directory, recurse: false, subdirectories: &next) ?? []
            }
            subtrees = next
            depth += 1
        }
        let results = ParallelResults<[Candidate]>(count: subtrees.count)
        let scanner = self
        let work = subtrees
        DispatchQueue.concurrentPerform(iterations: work.count) { index in
            BackgroundWork.lowerCurrentThread()
            var ignored: [String] = []
            results.set(index, scanner.walkDirectory(root: root, rootIndex: rootIndex, start: work[index], recurse: true, subdirectories: &ignored) ?? [])
        }
        for subtree in results.values { found += subtree ?? [] }
        found.sort { $0.relativePath < $1.relativePath }
        // An in-root symlink resolves to a path that is also walked: keep one of each path.
        var previous: String?
        found.removeAll { candidate in
            defer { previous = candidate.relativePath }
            return candidate.relativePath == previous
        }
        // Overlapping roots can reach one file twice: keep the first root's.
        if roots.count > 1 {
            found.removeAll { !seen.insert($0.realPath).inserted }
        }
        candidates += found
    }

    /// Directories to have before walking them in parallel, and how many levels to walk down by
    /// one thread to find them.
    static let parallelWalkWidth = max(4, 2 * ProcessInfo.processInfo.activeProcessorCount)
    static let serialWalkDepth = 3

    /// Files matching the pattern below `start` (relative to `root`); subdirectories are walked
    /// when `recurse`, else returned in `subdirectories`. nil when `start` cannot be opened.
    private func walkDirectory(root: String, rootIndex: Int, start: String, recurse: Bool, subdirectories: inout [String]) -> [Candidate]? {
        var candidates: [Candidate] = []
        var pending: [String] = [start]
        var first = true
        while let relativeDirectory = pending.popLast() {
            let directory = relativeDirectory.isEmpty ? root : root + "/" + relativeDirectory
            guard let handle = opendir(directory) else {
                if first { return nil }
                continue
            }
            first = false
            defer { closedir(handle) }
            let directoryFD = dirfd(handle)
            // Work on the C name: no Swift strings are made for entries that are not wanted,
            // which keeps a 100,000-file scan fast and its heap unfragmented.
            while let entry = readdir(handle) {
                let found: Candidate? = withUnsafeBytes(of: &entry.pointee.d_name) { raw -> Candidate? in
                    let cName = raw.bindMemory(to: CChar.self).baseAddress!
                    if cName[0] == 0x2E { return nil }   // hidden, `.` and `..`
                    let type = Int32(entry.pointee.d_type)
                    var info = stat()
                    if Self.isSubdirectory(type: type, name: cName, in: directoryFD, status: &info) {
                        let name = String(cString: cName)
                        let relative = relativeDirectory.isEmpty ? name : relativeDirectory + "/" + name
                        if recurse { pending.append(relative) } else { subdirectories.append(relative) }
                        return nil
                    }
                    guard type == Int32(DT_REG) || type == Int32(DT_LNK) || type == Int32(DT_UNKNOWN), matches(cFileName: cName),
                          fstatat(directoryFD, cName, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
                    let name = String(cString: cName)
                    var relative = relativeDirectory.isEmpty ? name : relativeDirectory + "/" + name
                    switch info.st_mode & S_IFMT {
                    case S_IFREG:
                        break
                    case S_IFLNK:
                        // Follow a file symlink only when its target stays inside this root.
                        guard let resolved = Self.realPath(root + "/" + relative), resolved.hasPrefix(root + "/"),
                              stat(resolved, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
                        relative = String(resolved.dropFirst(root.count + 1))
                    default:
                        return nil
                    }
                    return Candidate(rootIndex: rootIndex, rootRealPath: root, relativePath: relative, identity: FileIdentity(status: info))
                }
                if let found { candidates.append(found) }
            }
        }
        return candidates
    }

    /// Whether a directory entry is a directory to descend into, without following symlinks:
    /// from `d_type`, or from `fstatat` where the file system leaves it `DT_UNKNOWN` (some
    /// network and FUSE file systems). The scanner and the watcher use this one rule, so the
    /// watcher watches every directory the scanner reads. `status` is filled when stat was needed.
    package static func isSubdirectory(type: Int32, name: UnsafePointer<CChar>, in directoryFD: Int32, status: inout stat) -> Bool {
        if type == Int32(DT_DIR) { return true }
        guard type == Int32(DT_UNKNOWN), fstatat(directoryFD, name, &status, AT_SYMLINK_NOFOLLOW) == 0 else { return false }
        return (status.st_mode & S_IFMT) == S_IFDIR
    }

    /// The identity of the regular file at `path` (not following a final symlink), or nil.
    package static func identity(of path: String) -> FileIdentity? {
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return FileIdentity(status: info)
    }

    package static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

extension FileIdentity {
    package init(status info: stat) {
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
