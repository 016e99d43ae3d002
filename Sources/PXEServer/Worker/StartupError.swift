/// Why the worker refused to start: which part could not be set up, and the sentence that says
/// so (it names the key and the path at fault). The worker then exits 1 without serving.
package struct StartupError: Error, CustomStringConvertible {
    package enum Kind: Sendable, Equatable {
        case stateDirectory
        /// The saved settings are unusable (a corrupt file without a usable backup).
        case settings
        case adminTokens
        case bootCache
        case listenSocket
        /// A background service could not start.
        case service
    }

    package let kind: Kind
    package let description: String

    package init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}
