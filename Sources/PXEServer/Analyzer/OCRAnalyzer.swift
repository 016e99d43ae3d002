import ArgumentParser
import Foundation
import StrictJSON

/// The analyzer pxe-catalog ships (catalog.analyzer's default when Debian's `tesseract-ocr` is
/// installed): OCR of the container's image. Prints `{"description": "Contains text: ...",
/// "labels": ["text", <words>]}`, or no description when tesseract finds no text.
enum OCRAnalyzer {
    /// tesseract holds the whole image in memory (4 bytes a pixel): larger images are not read.
    static let maximumPixels = 4096 * 4096

    /// Width and height from a PNG's IHDR, nil when the file is not a PNG.
    static func pngSize(_ path: String) -> (Int, Int)? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let head = try? handle.read(upToCount: 24), head.count == 24, Array(head[12..<16]) == Array("IHDR".utf8) else { return nil }
        let number = { (range: Range<Int>) in head[range].reduce(0) { $0 << 8 | Int($1) } }
        return (number(16..<20), number(20..<24))
    }

    static func tesseractPath() -> String? {
        ["/usr/bin/tesseract", "/usr/local/bin/tesseract"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The analysis of the text tesseract read (words of letters and digits, in reading order).
    static func analysis(ofText text: String) -> JSONValue {
        let words = text.split(whereSeparator: { $0.isWhitespace }).map(String.init)
        guard !words.isEmpty else { return .object([("description", .null), ("labels", .array([]))]) }
        var shown = words.joined(separator: " ")
        if shown.count > 200 { shown = String(shown.prefix(199)) + "…" }
        var labels = ["text"]
        for word in words {
            let cleaned = word.lowercased().filter { $0.isLetter || $0.isNumber }
            if cleaned.count >= 3 && !labels.contains(cleaned) && labels.count < 16 { labels.append(cleaned) }
        }
        return .object([("description", .string("Contains text: \(shown)")), ("labels", .array(labels.map(JSONValue.string)))])
    }
}

/// `pxe-catalog analyze-ocr CONTAINER THUMBNAIL`: the built-in analyzer (run by the worker).
struct AnalyzeOCR: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "analyze-ocr",
                                                    abstract: "Print an OCR analysis of a container's image as JSON (the built-in catalog.analyzer).")

    @Argument(help: ArgumentHelp("The container.", valueName: "container")) var container: String
    @Argument(help: ArgumentHelp("Its thumbnail (not used: text needs the full image).", valueName: "thumbnail")) var thumbnail: String?

    func run() throws {
        guard let tesseract = OCRAnalyzer.tesseractPath() else {
            FileHandle.standardError.write(Data("tesseract is not installed (Debian package tesseract-ocr)\n".utf8))
            throw ExitCode.failure
        }
        guard let (width, height) = OCRAnalyzer.pngSize(container) else {
            FileHandle.standardError.write(Data("the container is not a PNG image\n".utf8))
            throw ExitCode.failure
        }
        guard width * height <= OCRAnalyzer.maximumPixels else {
            FileHandle.standardError.write(Data("the image is \(width)x\(height) pixels; OCR reads images up to 4096x4096\n".utf8))
            throw ExitCode.failure
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tesseract)
        process.arguments = [container, "stdout", "--psm", "3"]
        // One thread: tesseract's OpenMP would otherwise take every core for one small image.
        process.environment = ProcessInfo.processInfo.environment.merging(["OMP_THREAD_LIMIT": "1"]) { _, new in new }
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let text = output.fileHandleForReading.readDataToEndOfFile()
        let problem = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let line = String(decoding: problem, as: UTF8.self).split(whereSeparator: \.isNewline).first ?? ""
            FileHandle.standardError.write(Data("tesseract failed with status \(process.terminationStatus): \(line)\n".utf8))
            throw ExitCode.failure
        }
        FileHandle.standardOutput.write(Data(OCRAnalyzer.analysis(ofText: String(decoding: text, as: UTF8.self)).serialized(pretty: false) + [0x0A]))
    }
}
