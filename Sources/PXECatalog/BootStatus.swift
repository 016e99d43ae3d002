import PixelRTS

/// A file of an entry's prepared boot parts, as nginx serves it from the cache.
public enum BootPart: String, Sendable, CaseIterable {
    case kernel, initrd, disk, payload

    /// The file's name in the entry's cache directory.
    public var fileName: String { self == .disk ? "disk.img" : rawValue }
}

/// What the boot cache knows about one catalog entry.
public struct BootStatus: Sendable, Equatable {
    public enum State: String, Sendable {
        /// Waiting to be prepared.
        case pending
        /// Being decoded and verified right now.
        case preparing
        /// Decoded, verified, parts in the cache.
        case ready
        /// The container does not match itself (bad image, metadata or hashes): `problem` says how.
        case failed
        /// The container may be fine but its parts are not in the cache (budget, full disk): `problem` says why.
        case notPrepared = "not_prepared"
    }

    public var state: State
    /// Known once the payload was verified.
    public var kind: BootPlan.Kind?
    public var problem: String?
    /// Sizes of the parts in the cache.
    public var parts: [BootPart: Int64] = [:]
    public var commandLine: String?
    /// Directory of the parts below the cache (content-addressed; shared by identical containers).
    public var cacheKey: String?

    public init(state: State, kind: BootPlan.Kind? = nil, problem: String? = nil, parts: [BootPart: Int64] = [:],
                commandLine: String? = nil, cacheKey: String? = nil) {
        self.state = state
        self.kind = kind
        self.problem = problem
        self.parts = parts
        self.commandLine = commandLine
        self.cacheKey = cacheKey
    }

    public static let pending = BootStatus(state: .pending)

    /// true: verified; false: failed verification; nil: not known yet.
    public var verified: Bool? {
        switch state {
        case .ready: return true
        case .failed: return false
        case .pending, .preparing, .notPrepared: return nil
        }
    }

    /// Ready to boot: prepared, and it boots something.
    public var bootable: Bool { state == .ready && (kind == .linux || kind == .disk) }
}
