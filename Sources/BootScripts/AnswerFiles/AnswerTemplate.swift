import Foundation
import Mustache

/// Why a template was refused, naming its file and line.
package struct AnswerTemplateError: Error, Equatable, CustomStringConvertible {
    /// The file's name inside the templates directory (`debian.preseed`, `ubuntu/user-data.yaml`).
    package var file: String
    /// 1-based; nil for the file as a whole.
    package var line: Int?
    package var reason: String

    package var description: String { line.map { "\(file) line \($0): \(reason)" } ?? "\(file): \(reason)" }
}

/// One answer file: its Mustache template (parsed once, escaping for its format) and what it
/// is served as.
package struct AnswerFile: Sendable, Equatable {
    /// Its name in the template directory.
    package var path: String
    /// The last part of its URL: the file's name for a single-file template, the name without
    /// its format's extension in a directory (`user-data.yaml` is cloud-init's `user-data`).
    package var servedName: String
    package var format: AnswerFormat
    package var source: String
    let template: MustacheTemplate

    /// Largest template accepted, in bytes: answer files are small.
    package static let maximumBytes = 256 << 10

    /// Parses and checks `source`: Mustache syntax (the library's error and line), then every
    /// tag (`AnswerTemplateCheck`).
    package init(path: String, servedName: String, format: AnswerFormat, source: String) throws(AnswerTemplateError) {
        guard source.utf8.count <= Self.maximumBytes else {
            throw AnswerTemplateError(file: path, reason: "is larger than \(Self.maximumBytes >> 10) KiB")
        }
        try AnswerTemplateCheck.check(source, file: path)
        _ = AnswerFormat.registered
        do {
            // The pragma selects the format's escaping; on line 1 with no newline of its own, it
            // moves no line number.
            template = try MustacheTemplate(string: "{{% CONTENT_TYPE: \(format.contentTypeName)}}" + source)
        } catch let error as MustacheTemplate.ParserError {
            throw AnswerTemplateError(file: path, line: error.context.lineNumber, reason: "is not a valid template (\(error.error))")
        } catch {
            throw AnswerTemplateError(file: path, reason: "is not a valid template (\(error))")
        }
        self.path = path
        self.servedName = servedName
        self.format = format
        self.source = source
    }

    package func render(_ variables: AnswerVariables) -> String {
        template.render(variables.context)
    }

    package static func == (a: AnswerFile, b: AnswerFile) -> Bool {
        a.path == b.path && a.servedName == b.servedName && a.format == b.format && a.source == b.source
    }
}

/// Checks each tag of a template before it is used: only names some machine can have, only
/// escaped output, no partials, blocks, pragmas or delimiter changes. The Mustache library
/// keeps its tokens to itself, so the tags are read here, with their line numbers, by the
/// same rules (`{{`...`}}`, sigils `# ^ / ! & { > < $ = %`, `transform(name)`).
package enum AnswerTemplateCheck {
    package static func check(_ source: String, file: String) throws(AnswerTemplateError) {
        let bytes = Array(source.utf8)
        var line = 1
        var index = 0
        // Open sections: the name (first dotted part) each one pushed.
        var sections: [String] = []
        func fail(_ reason: String) -> AnswerTemplateError { AnswerTemplateError(file: file, line: line, reason: reason) }
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "\n") { line += 1 }
            guard bytes[index] == UInt8(ascii: "{"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "{") else {
                index += 1
                continue
            }
            let tagLine = line
            var start = index + 2
            let triple = start < bytes.count && bytes[start] == UInt8(ascii: "{")
            if triple { start += 1 }
            guard let end = find([UInt8(ascii: "}"), UInt8(ascii: "}")], in: bytes, from: start) else {
                throw fail("a tag opened here is never closed with }}")
            }
            let inner = String(decoding: bytes[start..<end], as: UTF8.self)
            line += inner.utf8.filter { $0 == UInt8(ascii: "\n") }.count
            index = end + 2 + (triple && end + 2 < bytes.count && bytes[end + 2] == UInt8(ascii: "}") ? 1 : 0)
            if triple { throw AnswerTemplateError(file: file, line: tagLine, reason: "{{{...}}} prints a value unescaped; write {{name}}: every value is written safely for the file's format") }
            let trimmed = inner.trimmingCharacters(in: .whitespacesAndNewlines)
            guard let sigil = trimmed.first else { throw AnswerTemplateError(file: file, line: tagLine, reason: "has an empty tag {{}}") }
            let body = String(trimmed.dropFirst()).trimmingCharacters(in: .whitespacesAndNewlines)
            func name(_ text: String) throws(AnswerTemplateError) -> String {
                try checkedName(text, sections: sections, file: file, line: tagLine)
            }
            switch sigil {
            case "!":
                continue
            case "&":
                throw AnswerTemplateError(file: file, line: tagLine, reason: "{{&\(body)}} prints a value unescaped; write {{\(body)}}: every value is written safely for the file's format")
            case ">", "<", "$":
                throw AnswerTemplateError(file: file, line: tagLine, reason: "partials and blocks ({{\(sigil)...}}) are not supported; keep each answer file whole")
            case "=":
                throw AnswerTemplateError(file: file, line: tagLine, reason: "changing the delimiters ({{=...=}}) is not supported")
            case "%":
                throw AnswerTemplateError(file: file, line: tagLine, reason: "pragmas ({{%...}}) are not supported: the file's extension sets its format")
            case "#", "^":
                sections.append(try name(body))
            case "/":
                let closed = try name(body)
                guard let open = sections.popLast() else {
                    throw AnswerTemplateError(file: file, line: tagLine, reason: "{{/\(body)}} closes a section that was never opened")
                }
                guard open == closed else {
                    throw AnswerTemplateError(file: file, line: tagLine, reason: "{{/\(body)}} closes section \"\(open)\"; close it with {{/\(open)}} first")
                }
            default:
                _ = try name(trimmed)
            }
        }
        if let open = sections.last {
            throw AnswerTemplateError(file: file, line: nil, reason: "section \"\(open)\" is never closed with {{/\(open)}}")
        }
    }

    /// The name a tag refers to, checked (`transform(name)` unwrapped); what a section pushes
    /// is returned for the stack (`entry`, `labels`, `.`).
    static func checkedName(_ text: String, sections: [String], file: String, line: Int) throws(AnswerTemplateError) -> String {
        var name = text
        if let open = text.firstIndex(of: "("), text.hasSuffix(")") {
            let transform = String(text[..<open]).trimmingCharacters(in: .whitespaces)
            guard AnswerValue.transforms.contains(transform) else {
                throw AnswerTemplateError(file: file, line: line, reason: "\(transform)(...) is not a known transform; use \(AnswerValue.transforms.sorted().joined(separator: ", "))")
            }
            name = String(text[text.index(after: open)..<text.index(before: text.endIndex)]).trimmingCharacters(in: .whitespaces)
        }
        if name == "." { return "." }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !parts.contains(where: { $0.isEmpty || !$0.allSatisfy(isNameCharacter) }) else {
            throw AnswerTemplateError(file: file, line: line, reason: "{{\(text)}} is not a variable name (letters, digits, '_', '-', joined by '.')")
        }
        // Inside a section over a map, any member name may exist; inside `entry`, its fields.
        let innermost = sections.last
        if let innermost, AnswerVariables.openMaps.contains(innermost) { return parts[0] }
        if innermost == "entry", AnswerVariables.entryNames.contains(parts[0]), parts.count == 1 { return parts[0] }
        let head = parts[0]
        guard AnswerVariables.topLevelNames.contains(head) else {
            throw AnswerTemplateError(file: file, line: line, reason: "{{\(text)}} names \"\(head)\", which no machine has; known names: \(AnswerVariables.topLevelNames.sorted().joined(separator: ", ")) (free ones under labels. and vars.)")
        }
        if head == "entry", parts.count > 1, !AnswerVariables.entryNames.contains(parts[1]) || parts.count > 2 {
            throw AnswerTemplateError(file: file, line: line, reason: "{{\(text)}} is not a field of the entry; use entry.id, entry.name or entry.cmdline")
        }
        if AnswerVariables.openMaps.contains(head), parts.count > 2 {
            throw AnswerTemplateError(file: file, line: line, reason: "{{\(text)}}: \(head) hold text values, one level deep (\(head).NAME)")
        }
        if !AnswerVariables.openMaps.contains(head), head != "entry", parts.count > 1 {
            throw AnswerTemplateError(file: file, line: line, reason: "{{\(text)}}: \(head) is text and has no fields")
        }
        return parts.count == 1 ? head : name
    }

    static func isNameCharacter(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || c == "_" || c == "-")
    }

    static func find(_ needle: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        var i = start
        while i + needle.count <= bytes.count {
            if bytes[i] == needle[0] && bytes[i + 1] == needle[1] { return i }
            i += 1
        }
        return nil
    }
}
