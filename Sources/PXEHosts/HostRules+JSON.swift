import StrictJSON

/// A host rule or label set that cannot be used; the message names the key at fault
/// (`hosts.rules[2].match.mac`) and what was wrong.
public struct HostRulesError: Error, Sendable, Equatable, CustomStringConvertible {
    public var key: String
    public var reason: String

    public init(key: String, reason: String) {
        self.key = key
        self.reason = reason
    }

    public var description: String { "\(key) \(reason)" }
}

extension HostRules {
    /// Parses `hosts.rules`: a list of `{"name", "match": {...}, "default", "timeout", "entries",
    /// "boot", "cmdline_append"}` (see docs/hosts.md). `isEntryID` checks ids where entries are
    /// named. Unknown keys are refused, by name.
    public static func parseRules(_ value: JSONValue, key: String = "hosts.rules", isEntryID: (String) -> Bool) throws(HostRulesError) -> [HostRule] {
        guard case let .array(items) = value else { throw HostRulesError(key: key, reason: "must be a list of rules, not a \(value.typeName)") }
        var rules: [HostRule] = []
        var names: Set<String> = []
        for (index, item) in items.enumerated() {
            let at = "\(key)[\(index)]"
            guard case let .object(members) = item else { throw HostRulesError(key: at, reason: "must be an object, not a \(item.typeName)") }
            for (name, _) in members where !["name", "match", "default", "timeout", "entries", "boot", "cmdline_append", "answers", "vars"].contains(name) {
                throw HostRulesError(key: "\(at).\(name)", reason: "is not a known key of a host rule")
            }
            guard let name = item["name"]?.stringValue, (1...64).contains(name.utf8.count),
                  name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil || "-_.".unicodeScalars.contains($0)) }) else {
                throw HostRulesError(key: "\(at).name", reason: "must be a name of 1 to 64 letters, digits, '-', '_' or '.'")
            }
            guard names.insert(name).inserted else { throw HostRulesError(key: "\(at).name", reason: "\"\(name)\" names two rules") }
            let selector = try parseSelector(item["match"] ?? .object([]), key: "\(at).match")
            var policy = HostPolicy()
            if let value = item["default"] {
                guard let choice = value.stringValue, choice == "local" || choice == "first" || isEntryID(choice) else {
                    throw HostRulesError(key: "\(at).default", reason: "must be \"local\", \"first\" or a 12-hex-digit entry id")
                }
                policy.defaultChoice = choice
            }
            if let value = item["timeout"] {
                // An integer as JSON Schema has it: 3 and 3.0 are the same number.
                guard let seconds = value.intValue, (0...3600).contains(seconds) else {
                    throw HostRulesError(key: "\(at).timeout", reason: "must be a whole number of seconds from 0 to 3600")
                }
                policy.timeoutSeconds = Int(seconds)
            }
            if let value = item["entries"] {
                let ids = try strings(value, key: "\(at).entries")
                for id in ids where !isEntryID(id) { throw HostRulesError(key: "\(at).entries", reason: "holds \"\(id.prefix(40))\", which is not a 12-hex-digit entry id") }
                policy.entries = ids
            }
            if let value = item["boot"] {
                guard let id = value.stringValue, isEntryID(id) else { throw HostRulesError(key: "\(at).boot", reason: "must be a 12-hex-digit entry id") }
                policy.boot = id
            }
            if let value = item["cmdline_append"] {
                guard let text = value.stringValue, text.utf8.count <= 1024 else {
                    throw HostRulesError(key: "\(at).cmdline_append", reason: "must be a string of at most 1024 bytes")
                }
                policy.commandLineAppend = text
            }
            if let value = item["answers"] {
                guard let template = value.stringValue, (1...64).contains(template.utf8.count), template.first != ".",
                      template.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
                    throw HostRulesError(key: "\(at).answers", reason: "must name an answer-file template (1 to 64 letters, digits, '-', '_' or '.')")
                }
                policy.answers = template
            }
            if let value = item["vars"] {
                policy.variables = try variables(value, key: "\(at).vars")
            }
            rules.append(HostRule(name: name, selector: selector, policy: policy))
        }
        return rules
    }

    /// Limits on a rule's answer-file variables: they are written into answer files, not stored
    /// documents.
    static let maximumVariables = 64
    static let maximumVariableBytes = 4096

    /// `{"role": "web", "hostname": "web-1"}`: names of letters, digits, '_' and '-'; text values.
    static func variables(_ value: JSONValue, key: String) throws(HostRulesError) -> [String: String] {
        guard case let .object(members) = value else { throw HostRulesError(key: key, reason: "must be an object of names to text, not a \(value.typeName)") }
        guard members.count <= maximumVariables else { throw HostRulesError(key: key, reason: "may hold at most \(maximumVariables) variables") }
        var variables: [String: String] = [:]
        for (name, member) in members {
            guard (1...64).contains(name.utf8.count), name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) else {
                throw HostRulesError(key: key, reason: "holds \"\(name.prefix(40))\", which is not a variable name (1 to 64 letters, digits, '_' or '-')")
            }
            guard let text = member.stringValue, text.utf8.count <= maximumVariableBytes else {
                throw HostRulesError(key: "\(key).\(name)", reason: "must be text of at most \(maximumVariableBytes) bytes")
            }
            variables[name] = text
        }
        return variables
    }

    static func parseSelector(_ value: JSONValue, key: String) throws(HostRulesError) -> HostSelector {
        guard case let .object(members) = value else { throw HostRulesError(key: key, reason: "must be an object of selectors, not a \(value.typeName)") }
        var selector = HostSelector()
        for (name, value) in members {
            let at = "\(key).\(name)"
            switch name {
            case "mac":
                selector.macs = try oneOrMany(value, key: at).map { (text) throws(HostRulesError) -> String in
                    guard let mac = MachineIdentity.normalisedMAC(text) else { throw HostRulesError(key: at, reason: "holds \"\(text.prefix(40))\", which is not a MAC address") }
                    return mac
                }
            case "mac_prefix":
                guard let text = value.stringValue else { throw HostRulesError(key: at, reason: "must be a string such as \"52:54:00\"") }
                let bytes = text.lowercased().split(separator: ":", omittingEmptySubsequences: false)
                guard (1...5).contains(bytes.count), bytes.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isHexDigit) }) else {
                    throw HostRulesError(key: at, reason: "must be one to five whole bytes such as \"52:54:00\", not \"\(text.prefix(40))\"")
                }
                selector.macPrefix = bytes.joined(separator: ":")
            case "uuid":
                selector.uuids = try oneOrMany(value, key: at).map { (text) throws(HostRulesError) -> String in
                    guard let uuid = MachineIdentity(query: "uuid=\(text)").uuid else { throw HostRulesError(key: at, reason: "holds \"\(text.prefix(40))\", which is not a UUID") }
                    return uuid
                }
            case "serial":
                // As iPXE reports them: SMBIOS strings are printable ASCII.
                selector.serials = try oneOrMany(value, key: at)
                if let bad = selector.serials.first(where: { !Self.isPrintableASCII($0, length: 1...64) }) {
                    throw HostRulesError(key: at, reason: "holds \"\(bad.prefix(40))\", which is not 1 to 64 printable ASCII characters")
                }
            case "hostname":
                guard let text = value.stringValue, (1...253).contains(text.utf8.count),
                      text.utf8.allSatisfy({ Self.isNameByte($0) || $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "?") }) else {
                    throw HostRulesError(key: at, reason: "must be a host name or a glob such as \"lab-*\" (letters, digits, '.', '-', '_', '*', '?')")
                }
                selector.hostname = text
            case "platform":
                guard let text = value.stringValue, ["pcbios", "efi"].contains(text) else { throw HostRulesError(key: at, reason: "must be \"pcbios\" or \"efi\"") }
                selector.platform = text
            case "buildarch":
                guard let text = value.stringValue, MachineIdentity(query: "buildarch=\(text)").buildarch == text else {
                    throw HostRulesError(key: at, reason: "must be an architecture name such as \"x86_64\" or \"arm64\"")
                }
                selector.buildarch = text
            case "labels":
                selector.labels = try labelSet(value, key: at)
            default:
                throw HostRulesError(key: at, reason: "is not a known selector; known: mac, mac_prefix, uuid, serial, hostname, platform, buildarch, labels")
            }
        }
        return selector
    }

    /// Parses `hosts.labels`: `{"<mac>": {"<label>": "<value>", ...}, ...}`.
    public static func parseLabels(_ value: JSONValue, key: String = "hosts.labels") throws(HostRulesError) -> [String: [String: String]] {
        guard case let .object(members) = value else { throw HostRulesError(key: key, reason: "must be an object of MAC addresses, not a \(value.typeName)") }
        var labels: [String: [String: String]] = [:]
        for (text, set) in members {
            guard let mac = MachineIdentity.normalisedMAC(text) else { throw HostRulesError(key: "\(key).\(text.prefix(40))", reason: "is not a MAC address") }
            labels[mac] = try labelSet(set, key: "\(key).\(text)")
        }
        return labels
    }

    static func labelSet(_ value: JSONValue, key: String) throws(HostRulesError) -> [String: String] {
        guard case let .object(members) = value else { throw HostRulesError(key: key, reason: "must be an object of label names and values") }
        var labels: [String: String] = [:]
        for (name, value) in members {
            guard let text = value.stringValue, (1...64).contains(name.utf8.count), name.utf8.allSatisfy(Self.isNameByte),
                  Self.isPrintableASCII(text, length: 0...256) else {
                throw HostRulesError(key: "\(key).\(name.prefix(40))",
                                     reason: "must be a string label (a name of up to 64 letters, digits, '.', '-' or '_'; a value of up to 256 printable ASCII characters)")
            }
            labels[name] = text
        }
        return labels
    }

    /// Letters, digits, '.', '-', '_' (ASCII).
    static func isNameByte(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
            || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
    }

    static func isPrintableASCII(_ text: String, length: ClosedRange<Int>) -> Bool {
        length.contains(text.utf8.count) && text.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
    }

    static func oneOrMany(_ value: JSONValue, key: String) throws(HostRulesError) -> [String] {
        if let text = value.stringValue { return [text] }
        let list = try strings(value, key: key)
        guard !list.isEmpty else { throw HostRulesError(key: key, reason: "must not be an empty list") }
        return list
    }

    static func strings(_ value: JSONValue, key: String) throws(HostRulesError) -> [String] {
        guard case let .array(items) = value else { throw HostRulesError(key: key, reason: "must be a string or a list of strings, not a \(value.typeName)") }
        return try items.map { (item) throws(HostRulesError) -> String in
            guard let text = item.stringValue else { throw HostRulesError(key: key, reason: "must hold only strings") }
            return text
        }
    }
}

extension HostRule {
    /// The rule in the shape `hosts.rules` takes (name first, then what it matches and sets),
    /// with where it came from.
    public var json: JSONValue {
        var match: [(String, JSONValue)] = []
        if !selector.macs.isEmpty { match.append(("mac", selector.macs.count == 1 ? .string(selector.macs[0]) : .array(selector.macs.map { .string($0) }))) }
        if let prefix = selector.macPrefix { match.append(("mac_prefix", .string(prefix))) }
        if !selector.uuids.isEmpty { match.append(("uuid", .array(selector.uuids.map { .string($0) }))) }
        if !selector.serials.isEmpty { match.append(("serial", .array(selector.serials.map { .string($0) }))) }
        if let hostname = selector.hostname { match.append(("hostname", .string(hostname))) }
        if let platform = selector.platform { match.append(("platform", .string(platform))) }
        if let buildarch = selector.buildarch { match.append(("buildarch", .string(buildarch))) }
        if !selector.labels.isEmpty { match.append(("labels", .object(selector.labels.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))) }
        var members: [(String, JSONValue)] = [("name", .string(name)), ("source", .string(source.rawValue)), ("match", .object(match))]
        if let choice = policy.defaultChoice { members.append(("default", .string(choice))) }
        if let timeout = policy.timeoutSeconds { members.append(("timeout", .int(Int64(timeout)))) }
        if let entries = policy.entries { members.append(("entries", .array(entries.map { .string($0) }))) }
        if let boot = policy.boot { members.append(("boot", .string(boot))) }
        if let text = policy.commandLineAppend { members.append(("cmdline_append", .string(text))) }
        if let template = policy.answers { members.append(("answers", .string(template))) }
        if !policy.variables.isEmpty { members.append(("vars", .object(policy.variables.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))) }
        return .object(members)
    }
}
