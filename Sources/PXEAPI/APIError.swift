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
