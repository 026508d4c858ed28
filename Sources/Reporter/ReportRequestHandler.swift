import Foundation
import SamparkCore
import SamparkPostgres
import SamparkRuntime

/// Handles `report.request.v2` (docs/reports.md): a daily report of a unit's subtree or of the
/// nation (or, with `all`, every district's, each state's and the nation's, as at the set
/// time), or a constituency dossier. Each report is stored under its report id (a re-run
/// replaces it) and published on `sampark.reports`; a request with `reply_to` also gets the
/// report (one scope) as the reply.
public struct ReportRequestHandler: MessageHandler {
    let settings: ReportSettings

    public init(settings: ReportSettings = ReportSettings()) { self.settings = settings }

    public func handle(_ request: ReportRequest, context: HandlerContext) throws {
        let connection = context.connection
        let now = settings.clock.now()
        let day = request.day ?? IST.day(of: now)
        guard day.count == 10, PostgresDate(day) != nil else { throw HandlerError.permanent("day: is not a date as YYYY-MM-DD") }
        do {
            switch request.kind {
            case .daily:
                if request.all == true {
                    let published = try ReportPublishing.publishAll(day: day, settings: settings, generatedAt: now, requestMessageID: context.messageID,
                                                                    on: connection) { body, key in
                        try context.publish(body, exchange: Topology.reportsExchange, routingKey: key, mandatory: false)
                    }
                    try context.logProcessing("report", subject: "daily reports of \(day), every scope",
                                              detail: "{\"reports\": \(published.count)}")
                    try context.reply(ReportsPublished(day: day, reports: published))
                    return
                }
                let scope = try DailyReports.scope(code: request.scope, on: connection)
                let report = try ReportPublishing.publishDaily(scope, day: day, generatedAt: now, requestMessageID: context.messageID,
                                                               on: connection) { body, key in
                    try context.publish(body, exchange: Topology.reportsExchange, routingKey: key, mandatory: false)
                }
                try context.logProcessing("report", subject: "daily report \(report.reportID)")
                try context.reply(report)
            case .dossier:
                guard let constituency = request.constituency, !constituency.isEmpty else {
                    throw HandlerError.permanent("constituency: a dossier names its constituency")
                }
                guard let party = request.party ?? settings.party else {
                    throw HandlerError.permanent("party: name the party whose results a dossier weighs (or set SAMPARK_PARTY)")
                }
                let dossier = try Dossiers.build(constituency: constituency, election: request.election, party: party, day: day,
                                                 districtLevel: settings.districtLevel, generatedAt: now, on: connection)
                let body = try MessageCoding.encode(dossier)
                try DailyReports.store(body, reportID: dossier.reportID, kind: "dossier", scope: constituency, day: day,
                                       requestMessageID: context.messageID, on: connection)
                try context.publish(dossier, exchange: Topology.reportsExchange, routingKey: Dossiers.routingKey(for: dossier), mandatory: false)
                try context.logProcessing("dossier", subject: "dossier \(dossier.reportID)")
                try context.reply(dossier)
            }
        } catch let error as ReportError {
            throw HandlerError.permanent(error.description)
        }
    }
}

/// Stores and publishes reports; the handler and the schedule publish alike.
public enum ReportPublishing {
    public typealias Publish = (DailyReport, String) throws -> Void

    @discardableResult
    public static func publishDaily(_ scope: DailyReports.Scope, day: String, generatedAt: Date, requestMessageID: String?,
                                    on connection: PostgresConnection, publish: Publish) throws -> DailyReport {
        let report = try DailyReports.build(scope, day: day, generatedAt: generatedAt, on: connection)
        try DailyReports.store(try MessageCoding.encode(report), reportID: report.reportID, kind: "daily", scope: scope.scope.code,
                               day: day, requestMessageID: requestMessageID, on: connection)
        try publish(report, DailyReport.routingKey(for: scope.scope))
        return report
    }

    /// Every district's report, each state's and the nation's; returns their ids.
    public static func publishAll(day: String, settings: ReportSettings, generatedAt: Date, requestMessageID: String?,
                                  on connection: PostgresConnection, publish: Publish) throws -> [String] {
        try DailyReports.allScopes(districtLevel: settings.districtLevel, on: connection).map {
            try publishDaily($0, day: day, generatedAt: generatedAt, requestMessageID: requestMessageID, on: connection, publish: publish).reportID
        }
    }
}
