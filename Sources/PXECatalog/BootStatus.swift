import PixelRTS

/// A file of an entry's prepared boot parts, as nginx serves it from the cache.
package enum BootPart: String, Sendable, CaseIterable {
    case kernel, initrd, disk, payload

    /// The file's name in the entry's cache directory.
    package var fileName: String { self == .disk ? "disk.img" : rawValue }
}

/// What the boot cache knows about one catalog entry.
package struct BootStatus: Sendable, Equatable {
    package enum State: String, Sendable {
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

    package var state: State
    /// Known once the payload was verified.
    package var kind: BootPlan.Kind?
    package var problem: String?
    /// Sizes of the parts in the cache.
    package var parts: [BootPart: Int64] = [:]
    package var commandLine: String?
    /// Directory of the parts below the cache (content-addressed; shared by identical containers).
    package var cacheKey: String?
    /// SHA-256 of the container file whose thumbnail is in the cache's `thumbnails` directory.
    package var thumbnail: String?
    /// Why the entry has no thumbnail (the image is not one the renderer reads, or too large); nil
    /// while it may still get one.
    package var thumbnailProblem: String?
    /// What the analyzer said of the picture (catalog.analyzer), once it did.
    package var analysis: ContainerAnalyzer.Result?
    /// Whether a ready Linux entry's kernel is signed (Authenticode), for Secure Boot machines.
    package var kernelSignature: KernelSignature?

    package init(state: State, kind: BootPlan.Kind? = nil, problem: String? = nil, parts: [BootPart: Int64] = [:],
                commandLine: String? = nil, cacheKey: String? = nil) {
        self.state = state
        self.kind = kind
        self.problem = problem
        self.parts = parts
        self.commandLine = commandLine
        self.cacheKey = cacheKey
    }

    package static let pending = BootStatus(state: .pending)

    /// true: verified; false: failed verification; nil: not known yet.
    package var verified: Bool? {
        switch state {
        case .ready: return true
        case .failed: return false
        case .pending, .preparing, .notPrepared: return nil
        }
    }

    /// Ready to boot: prepared, and it boots something.
    package var bootable: Bool { state == .ready && (kind == .linux || kind == .disk) }
}
