import Foundation
import XCTest
@testable import Axis

/// A journal that disappears must be an error, never a silent fresh start.
final class JournalIdentityTests: XCTestCase {
    func makeJournal(records: Int) throws -> String {
        let dir = try makeTempDirectory(self)
        let (journal, report) = try Journal.open(directory: dir)
        XCTAssertTrue(report.created)
        for i in 0..<records { _ = try journal.appendAndWait(.opaque, [UInt8(i)]) }
        journal.close()
        return dir
    }

    func testJournalWhoseSegmentsWereDeletedRefusesToStartOver() throws {
        let dir = try makeJournal(records: 3)
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) where name.hasSuffix(".axj") {
            try FileManager.default.removeItem(atPath: dir + "/" + name)
        }
        XCTAssertThrowsError(try Journal.open(directory: dir)) { error in
            XCTAssertEqual((error as? AxisError)?.code, .journalCorrupt)
            XCTAssertTrue("\(error)".contains("now has no segments"), "\(error)")
            XCTAssertTrue("\(error)".contains("wrong disk is mounted"), "\(error)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".axj") }, [],
                       "a refused open creates nothing")
    }

    func testSegmentsOfAnotherJournalAreRefused() throws {
        let mine = try makeJournal(records: 2)
        let other = try makeJournal(records: 2)
        try FileManager.default.removeItem(atPath: mine + "/JOURNAL_ID")
        try FileManager.default.copyItem(atPath: other + "/JOURNAL_ID", toPath: mine + "/JOURNAL_ID")
        XCTAssertThrowsError(try Journal.open(directory: mine)) { error in
            XCTAssertTrue("\(error)".contains("but now has segments of journal"), "\(error)")
        }
    }

    func testMissingIdentityIsRewrittenFromTheSegments() throws {
        let dir = try makeJournal(records: 1)
        let original = try String(contentsOfFile: dir + "/JOURNAL_ID", encoding: .utf8)
        XCTAssertEqual(original.count, 33)
        // As after a crash between creating the first segment and writing the id.
        try FileManager.default.removeItem(atPath: dir + "/JOURNAL_ID")
        let (journal, report) = try Journal.open(directory: dir)
        journal.close()
        XCTAssertFalse(report.created)
        XCTAssertEqual(try String(contentsOfFile: dir + "/JOURNAL_ID", encoding: .utf8), original)
    }

    func testUnreadableIdentityFileIsAnErrorThatSaysHowToRestoreIt() throws {
        let dir = try makeJournal(records: 1)
        try Data("not an id".utf8).write(to: URL(fileURLWithPath: dir + "/JOURNAL_ID"))
        XCTAssertThrowsError(try Journal.open(directory: dir)) { error in
            XCTAssertTrue("\(error)".contains("does not hold a journal id"), "\(error)")
        }
    }
}
