import PXECatalog
import PXESettings
import StrictJSON

/// Reading the JSON bodies of change requests: one place for the refusals every POST shares.
enum RequestBody {
    /// Refuses a body the transport flagged (too large, shorter than declared).
    static func checkTransport(_ request: HTTPRequest) throws(APIError) {
        switch request.bodyProblem {
        case .tooLarge: throw APIError(.payloadTooLarge, "The request body is larger than this endpoint accepts.")
        case .shorterThanDeclared: throw APIError(.badRequest, "The request body is shorter than its Content-Length.")
        case nil: return
        }
    }

    /// Whether there is no body at all (some endpoints then take their defaults). Whitespace is
    /// a body, and not JSON.
    static func isEmpty(_ request: HTTPRequest) -> Bool {
        request.body.isEmpty
    }

    /// The body's members; `shape` says what the object should look like, for the refusal.
    static func object(_ request: HTTPRequest, shape: String) throws(APIError) -> [(String, JSONValue)] {
        let body: JSONValue
        do {
            body = try JSONParser.parse(request.body)
        } catch {
            throw APIError(.badRequest, "The request body is not valid JSON: \(error.description)")
        }
        guard case let .object(members) = body else {
            throw APIError(.badRequest, "The request body must be a JSON object \(shape).")
        }
        // Which of two values would win differs between JSON parsers: refuse the ambiguity.
        var seen = Set<String>()
        for (key, _) in members where !seen.insert(key).inserted {
            throw APIError(.badRequest, "Field '\(Route.printable(key))' appears more than once in the request body.")
        }
        return members
    }

    /// A text field that may be reset with null: bounded length, no control characters.
    static func textChange(_ value: JSONValue, field: String, limit: Int) throws(APIError) -> FieldChange<String> {
        switch value {
        case .null:
            return .reset
        case let .string(text):
            // Characters as JSON Schema counts them (code points), as docs/openapi.yaml says.
            guard text.unicodeScalars.count <= limit else {
                throw APIError(.badRequest, "Field '\(field)' must be at most \(limit) characters.")
            }
            guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw APIError(.badRequest, "Field '\(field)' must not contain control characters.")
            }
            return .set(text)
        default:
            throw APIError(.badRequest, "Field '\(field)' must be a string or null, not a \(value.typeName).")
        }
    }
}
