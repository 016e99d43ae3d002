import Foundation

/// A named answer-file template: one file (`debian.preseed` is template `debian`), or a
/// directory of files served side by side (`ubuntu/user-data.yaml` and `ubuntu/meta-data.yaml`
/// are template `ubuntu`, which cloud-init's NoCloud reads as `.../user-data`, `.../meta-data`).
package struct AnswerTemplate: Sendable, Equatable {
    package var name: String
    package var files: [AnswerFile]
    /// Whether its URL is a directory (ends in `/`: the installer appends file names).
    package var isDirectory: Bool

    package func file(named servedName: String) -> AnswerFile? { files.first { $0.servedName == servedName } }
}

/// Every template of `provision.templates`, loaded and checked as a whole: one bad file
/// refuses the set (the running one is kept), naming the file and line.
package struct AnswerTemplateSet: Sendable, Equatable {
    package var templates: [String: AnswerTemplate]

    package init(templates: [AnswerTemplate] = []) {
        self.templates = Dictionary(templates.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    package subscript(name: String) -> AnswerTemplate? { templates[name] }

    package var names: [String] { templates.keys.sorted() }

    /// Bounds on what a directory may hold (it is read at start and on every reload).
    static let maximumFiles = 512

    package static func isTemplateName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count) && name.first != "." && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
    }

    /// Reads `directory`: each file with a known extension is a template, each subdirectory
    /// one template of its files; hidden files are skipped; anything else is an error.
    package static func load(directory: String) throws(AnswerTemplateError) -> AnswerTemplateSet {
        let fileManager = FileManager.default
        var isDirectory: ObjCBool = false
        guard fileManager.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue,
              let names = try? fileManager.contentsOfDirectory(atPath: directory) else {
            throw AnswerTemplateError(file: "(directory)", reason: "is not a readable directory")
        }
        var templates: [AnswerTemplate] = []
        var count = 0
        for name in names.sorted() where !name.hasPrefix(".") {
            let path = directory + "/" + name
            var isSubdirectory: ObjCBool = false
            _ = fileManager.fileExists(atPath: path, isDirectory: &isSubdirectory)
            if isSubdirectory.boolValue {
                guard isTemplateName(name) else { throw AnswerTemplateError(file: name, reason: "is not a template name (1 to 64 letters, digits, '-', '_', '.')") }
                guard let members = try? fileManager.contentsOfDirectory(atPath: path) else {
                    throw AnswerTemplateError(file: name, reason: "cannot be read")
                }
                var files: [AnswerFile] = []
                for member in members.sorted() where !member.hasPrefix(".") {
                    count += 1
                    let (file, format) = try templateFile(directory: directory, relative: name + "/" + member)
                    let served = String(member[..<(member.lastIndex(of: ".") ?? member.endIndex)])
                    guard isTemplateName(served) else { throw AnswerTemplateError(file: name + "/" + member, reason: "is not a file name a URL can carry") }
                    files.append(try AnswerFile(path: name + "/" + member, servedName: served, format: format, source: file))
                }
                guard !files.isEmpty else { throw AnswerTemplateError(file: name, reason: "holds no template files") }
                templates.append(AnswerTemplate(name: name, files: files, isDirectory: true))
            } else {
                count += 1
                let (text, format) = try templateFile(directory: directory, relative: name)
                let stem = String(name[..<(name.lastIndex(of: ".") ?? name.endIndex)])
                guard isTemplateName(stem), isTemplateName(name) else { throw AnswerTemplateError(file: name, reason: "is not a template name (1 to 64 letters, digits, '-', '_', '.')") }
                guard !templates.contains(where: { $0.name == stem }) else {
                    throw AnswerTemplateError(file: name, reason: "makes a second template named \"\(stem)\"; rename one of them")
                }
                templates.append(AnswerTemplate(name: stem, files: [try AnswerFile(path: name, servedName: name, format: format, source: text)], isDirectory: false))
            }
            guard count <= maximumFiles else { throw AnswerTemplateError(file: name, reason: "is past the \(maximumFiles) files a templates directory may hold") }
        }
        let set = AnswerTemplateSet(templates: templates)
        guard set.templates.count == templates.count else {
            throw AnswerTemplateError(file: "(directory)", reason: "holds two templates of the same name (a file and a directory)")
        }
        return set
    }

    private static func templateFile(directory: String, relative: String) throws(AnswerTemplateError) -> (String, AnswerFormat) {
        guard let format = AnswerFormat(fileName: relative) else {
            throw AnswerTemplateError(file: relative, reason: "has no answer-file extension; use one of \(AnswerFormat.extensions.keys.sorted().map { "." + $0 }.joined(separator: ", "))")
        }
        let path = directory + "/" + relative
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path), attributes[.type] as? FileAttributeType == .typeRegular else {
            throw AnswerTemplateError(file: relative, reason: "is not a regular file")
        }
        guard (attributes[.size] as? Int ?? 0) <= AnswerFile.maximumBytes else {
            throw AnswerTemplateError(file: relative, reason: "is larger than \(AnswerFile.maximumBytes >> 10) KiB")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw AnswerTemplateError(file: relative, reason: "cannot be read") }
        guard let text = String(data: data, encoding: .utf8) else { throw AnswerTemplateError(file: relative, reason: "is not UTF-8 text") }
        return (text, format)
    }
}
