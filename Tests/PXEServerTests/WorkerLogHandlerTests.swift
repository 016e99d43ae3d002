@testable import PXEServer
import Testing

@Suite struct WorkerLogHandlerTests {
    /// File names reach the log; none of their bytes may split a record or steer a terminal.
    @Test(arguments: [
        ("plain name.rts.png", "plain name.rts.png"),
        ("two\nlines", "two\\nlines"),
        ("over\rwrite", "over\\rwrite"),
        ("tab\there", "tab\\there"),
        ("\u{1B}[31mred\u{1B}[0m", "\\x1B[31mred\\x1B[0m"),
        ("nul\u{0}bell\u{7}del\u{7F}c1\u{85}", "nul\\x00bell\\x07del\\x7Fc1\\x85"),
        ("evil\u{202E}gnp.exe", "evil\\u{202E}gnp.exe"),
        ("zero\u{200B}width é ☃", "zero\\u{200B}width é ☃"),
    ])
    func controlAndFormatCharactersAreEscaped(raw: String, logged: String) {
        #expect(WorkerLogHandler.escaped(raw) == logged)
    }
}
