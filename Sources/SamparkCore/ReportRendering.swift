import Foundation

/// Reports as people read them: plain-text tables for a terminal, CSV for a spreadsheet.
/// Both render the published JSON; nothing here reads the database.
public enum ReportRendering {
    /// The CSV of a daily report: one row per figure, `section,item,measure,value`, so every
    /// section fits one sheet and a pivot table rebuilds any view.
    public static func csv(_ report: DailyReport) -> String {
        var rows: [[String]] = [["report_id", "day", "scope", "section", "item", "measure", "value"]]
        func add(_ section: String, _ item: String, _ measure: String, _ value: Int) {
            rows.append([report.reportID, report.day, report.scope.code, section, item, measure, String(value)])
        }
        func counts(_ section: String, _ item: String, _ c: DailyReport.Counts) {
            for (name, value) in countColumns(c) { add(section, item, name, value) }
        }
        for call in report.calls { counts("calls", "\(call.campaign) (\(call.kind.rawValue))", call.counts) }
        counts("calls", "total", report.totals)
        for c in report.committees {
            add("committees", c.level, "committees", c.committees)
            add("committees", c.level, "reached_two", c.reachedTwo)
        }
        for s in report.schemes {
            add("schemes", s.scheme, "received", s.received)
            add("schemes", s.scheme, "not_received", s.notReceived)
            add("schemes", s.scheme, "partly", s.partly)
        }
        add("escalations", "", "raised", report.escalations.raised)
        add("escalations", "", "open", report.escalations.open)
        for t in report.issueTags { add("issue_tags", t.tag, "calls", t.calls) }
        add("turnout", "", "calls", report.turnout.calls)
        add("turnout", "", "reached", report.turnout.reached)
        add("turnout", "", "voted", report.turnout.voted)
        add("turnout", "", "not_yet", report.turnout.notYet)
        add("turnout", "", "will_vote", report.turnout.willVote)
        for c in report.centres {
            add("centres", "\(c.centre) \(c.shift)", "attempts", c.attempts)
            add("centres", "\(c.centre) \(c.shift)", "connected", c.connected)
            add("centres", "\(c.centre) \(c.shift)", "talk_seconds", c.talkSeconds)
        }
        for r in report.refusals { add("refusals", r.reason, "calls", r.calls) }
        add("corrections", "", "pending", report.pendingCorrections)
        return CSVWriter.text(rows)
    }

    static func countColumns(_ c: DailyReport.Counts) -> [(String, Int)] {
        [("attempts", c.attempts), ("reached", c.reached), ("connected", c.connected), ("no_answer", c.noAnswer), ("busy", c.busy),
         ("switched_off", c.switchedOff), ("not_reachable", c.notReachable), ("wrong_number", c.wrongNumber),
         ("call_back", c.callBack), ("refused", c.refused), ("language_barrier", c.languageBarrier), ("opted_out", c.optedOut),
         ("voted", c.voted)]
    }

    /// A table with a header and right-aligned numbers.
    public static func table(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { i in all.map { $0.indices.contains(i) ? $0[i].count : 0 }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: max(0, widths[i] - cell.count))
                return i == 0 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
        return ([line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")] + rows.map(line))
            .joined(separator: "\n")
    }

    public static func text(_ report: DailyReport) -> String {
        var out = ["DAILY REPORT \(report.day): \(report.scope.name) (\(report.scope.level) \(report.scope.code))  [\(report.reportID)]"]
        let header = ["campaign", "calls", "reached", "conn", "no-ans", "busy", "off", "unreach", "wrong", "callbk", "refused", "lang",
                      "opt-out", "voted"]
        func row(_ name: String, _ c: DailyReport.Counts) -> [String] {
            [name] + countColumns(c).map { String($0.1) }
        }
        out.append(table(header, report.calls.map { row("\($0.campaign) (\($0.kind.rawValue))", $0.counts) } + [row("total", report.totals)]))
        if !report.committees.isEmpty {
            out.append("")
            out.append(table(["committees", "all", "2+ reached"], report.committees.map { [$0.level, String($0.committees), String($0.reachedTwo)] }))
        }
        if !report.schemes.isEmpty {
            out.append("")
            out.append(table(["scheme", "received", "not received", "partly"],
                             report.schemes.map { [$0.scheme, String($0.received), String($0.notReceived), String($0.partly)] }))
        }
        out.append("")
        out.append("escalations: \(report.escalations.raised) raised today, \(report.escalations.open) open;  "
                   + "corrections waiting for the district: \(report.pendingCorrections)")
        if !report.issueTags.isEmpty {
            out.append("top issues: " + report.issueTags.map { "\($0.tag) \($0.calls)" }.joined(separator: ", "))
        }
        if report.turnout.calls > 0 {
            let t = report.turnout
            out.append("turnout calls: \(t.calls), reached \(t.reached): voted \(t.voted), not yet \(t.notYet), will vote \(t.willVote)")
        }
        if !report.centres.isEmpty {
            out.append("")
            out.append(table(["centre", "shift", "calls", "connected", "talk min"],
                             report.centres.map { [$0.centre, $0.shift, String($0.attempts), String($0.connected), String($0.talkSeconds / 60)] }))
        }
        if !report.refusals.isEmpty {
            // calling_hours counts the calls due while a campaign's window was shut, once a day.
            out.append("refused by the lawful-calling gates: " + report.refusals.map {
                $0.reason == "calling_hours" ? "calling_hours \($0.calls) (due while the window was shut)" : "\($0.reason) \($0.calls)"
            }.joined(separator: ", "))
        }
        return out.joined(separator: "\n")
    }

    public static func text(_ dossier: ConstituencyDossier, people limit: Int = 20) -> String {
        let c = dossier.counts
        var out = ["CONSTITUENCY DOSSIER \(dossier.constituency.name) (\(dossier.constituency.code)), district \(dossier.district ?? "-"), "
                   + "state \(dossier.constituency.state ?? "-")  [\(dossier.reportID)]",
                   "booths \(c.booths), voters \(c.voters), beneficiaries \(c.beneficiaries), office-bearers and workers \(c.people)",
                   "results: \(dossier.election ?? "none on record"), party \(dossier.party)"]
        func results(_ booths: [ConstituencyDossier.BoothResult]) -> String {
            table(["booth", "electors", "polled", "votes", "share", "rival", "rival votes", "margin"], booths.map {
                [$0.booth, $0.electors.map(String.init) ?? "", String($0.polled), String($0.votes), String(format: "%.1f%%", $0.share * 100),
                 $0.rival ?? "", String($0.rivalVotes), String($0.margin)]
            })
        }
        if !dossier.weakBooths.isEmpty {
            out += ["", "weak booths, weakest first:", results(dossier.weakBooths)]
        }
        out += ["", "all booths (\(dossier.booths.count)):", results(dossier.booths)]
        if !dossier.committees.isEmpty {
            out += ["", table(["committees", "all", "2+ reached"], dossier.committees.map { [$0.level, String($0.committees), String($0.reachedTwo)] })]
        }
        if !dossier.people.isEmpty {
            out += ["", "office-bearers and workers (\(dossier.people.count)\(dossier.people.count > limit ? ", first \(limit)" : "")):",
                    table(["name", "role", "unit", "committee", "responsibilities"], dossier.people.prefix(limit).map {
                        [$0.name, $0.role, $0.unit, $0.committee ?? "", $0.responsibilities ?? ""]
                    })]
        }
        return out.joined(separator: "\n")
    }
}
