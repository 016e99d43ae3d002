import PXESettings

/// Why a request was refused. The kind decides the status code; the message is the sentence
/// the client reads in `{"error": ...}`, so it names the field, id or value at fault and never a
/// server path or other internals.
package struct APIError: Error, Sendable {
    package enum Kind: Sendable, Equatable {
        /// The request is malformed: a bad field, body, query parameter or path.
        case badRequest
        /// No or a wrong admin token.
        case unauthorized
        /// Changes are disabled on this server.
        case forbidden
        case notFound
        case methodNotAllowed
        /// The entry is in a state that refuses the request (a container that cannot be opened).
        case conflict
        /// `If-Match` named a revision the entry is no longer at.
        case preconditionFailed
        /// Existed, and never will again (an answer-file URL used up or expired).
        case gone
        case payloadTooLarge
        /// Try again later (an entry being prepared); `Retry-After` says when.
        case unavailable
        /// The disk is full: the operator has to free space.
        case insufficientStorage
        /// The server failed to do what it should have (a write error).
        case internalError

        package var status: Int {
            switch self {
            case .badRequest: return 400
            case .unauthorized: return 401
            case .forbidden: return 403
            case .notFound: return 404
            case .methodNotAllowed: return 405
            case .conflict: return 409
            case .gone: return 410
            case .preconditionFailed: return 412
            case .payloadTooLarge: return 413
            case .internalError: return 500
            case .unavailable: return 503
            case .insufficientStorage: return 507
            }
        }
    }

    package let kind: Kind
    package let message: String
    /// Headers the refusal needs (`Allow`, `Retry-After`, `WWW-Authenticate`).
    package var headers: [(String, String)]

    package init(_ kind: Kind, _ message: String, headers: [(String, String)] = []) {
        self.kind = kind
        self.message = message
        self.headers = headers
    }

    package var response: HTTPResponse { .error(kind.status, message, headers: headers) }

    static let noSuchContainer = APIError(.notFound, "No container with that id is in the catalog.")
}

/// The answers to a settings change that failed: which status, which sentence.
extension APIError {
    /// Runs a store change, turning its failure into the API's refusal.
    static func saving<Result>(_ change: () throws(SettingsChangeError) -> Result) throws(APIError) -> Result {
        do {
            return try change()
        } catch {
            switch error {
            case .unknownEntry: throw .noSuchContainer
            case let .revisionMismatch(id, current):
                throw APIError(.preconditionFailed, "Entry \(id) changed meanwhile: it is at revision \(current) now, not the one If-Match names. Fetch it again and repeat the change if it still applies; nothing was changed.",
                               headers: [("ETag", ChangeRoutes.etag(current))])
            case let .settingsNotSaved(storeError): throw settingsFailure(storeError)
            case .ownedByMenuFile: throw APIError(.conflict, error.description + " Nothing was changed.")
            }
        }
    }

    /// 503 while the database is unreachable, 507 when the disk is full (the operator must free
    /// space), 500 for other failures. The sentence does not repeat the store's (it may name the
    /// database); the log has it.
    static func settingsFailure(_ error: SettingsStoreError, prefix: String = "The settings could not be saved",
                                outcome: String = "Nothing was changed.") -> APIError {
        switch error.kind {
        case .unavailable:
            return APIError(.unavailable, "\(prefix): the settings database is unreachable. \(outcome) Try again when it is back.",
                            headers: [("Retry-After", "5")])
        case .outOfSpace:
            return APIError(.insufficientStorage, "\(prefix): the disk holding the settings is full. \(outcome)")
        case .newerSchema, .failed:
            return APIError(.internalError, "\(prefix): the settings store failed (see the server log). \(outcome)")
        }
    }

    /// The revision `If-Match` names (`"12"`, `12` or `W/"12"`, up to 18 digits), nil without the
    /// header or for `*` (any existing entry matches).
}
