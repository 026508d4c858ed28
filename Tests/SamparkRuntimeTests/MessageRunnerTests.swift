import Foundation
import Logging
import Testing
import SamparkAMQP
import SamparkCore
import SamparkRuntime
import SamparkTestSupport

/// The delivery rules, on the real broker and database: inbox, ack after commit, outbox and
/// relay, retries through delay queues, dead letters with reasons.
@Suite struct MessageRunnerTests {
    /// Runs the runner (and relay) around `body`, then stops them and tears the fixture down.
    private func withRunning(_ body: (RuntimeFixture) async throws -> Void) async throws {
        let fixture = try await RuntimeFixture.make()
        let running = Task { try await fixture.runner.run() }
        let relaying = Task { try await fixture.relay.run() }
        do {
            try await body(fixture)
        } catch {
            running.cancel(); relaying.cancel()
            await fixture.tearDown()
            throw error
        }
        running.cancel(); relaying.cancel()
        _ = await running.result
        _ = await relaying.result
        await fixture.tearDown()
    }

    @Test func eachMessageIsHandledOnceAndAckedAfterCommit() async throws {
        try await withRunning { fixture in
            try await fixture.send((1...50).map { Ping(n: $0, mode: "ok") })
            #expect(try await eventually { try await fixture.effects().count == 50 })
            #expect(try await eventually { try await fixture.amqp.inspectQueue(fixture.queue.name).messageCount == 0 })
            // The outcome is reported just after the ack: wait for the report, not only the ack.
            #expect(await eventually { fixture.count(.handled) == 50 })
        }
    }

    /// A batch handler's messages are handled many per transaction, each once; a message
    /// that breaks its batch is handled alone (and dead-lettered), the rest of the batch kept.
    @Test func batchesHandleEachMessageOnceAndIsolateTheOneThatFails() async throws {
        try await withRunning { fixture in
            try await fixture.send(tallies: (1...300).map { Tally(n: $0, mode: $0 == 150 ? "permanent" : "ok") })
            // Twenty of them again (a republish), and a body that is not a tally.
            try await fixture.send(tallies: (1...20).map { Tally(n: $0, mode: "ok") })
            var properties = AMQPProperties(contentType: "application/json", messageID: "tally-garbage")
            properties.type = Tally.messageType
            try await fixture.amqp.publish(OutgoingMessage(exchange: "", routingKey: fixture.queue.name, body: Array("{\"n\": \"x\"}".utf8),
                                                           properties: properties))
            #expect(try await eventually { fixture.count(.handled) + fixture.count(.duplicate) + fixture.count(.deadLettered) == 321 })
            #expect(fixture.count(.handled) == 299)
            #expect(fixture.count(.duplicate) == 20)
            #expect(fixture.count(.deadLettered) == 2, "the failing tally and the undecodable body, each alone")
            let effects = try await fixture.effects()
            #expect(effects.count == 299 && !effects.contains("tally-150"))
            let dead = try await fixture.take(2, from: fixture.queue.deadQueue)
            #expect(Set(dead.compactMap(\.properties.messageID)) == ["tally-150", "tally-garbage"])
            // Batched: far fewer transactions than messages (the failed batch was redone one by one).
            let sizes = fixture.batches.all
            #expect(sizes.reduce(0, +) == 299)
            #expect(sizes.filter { $0 > 1 }.count >= 3 && sizes.count < 150, "\(sizes)")
            #expect(try await eventually { try await fixture.amqp.inspectQueue(fixture.queue.name).messageCount == 0 })
        }
    }

    @Test func aRedeliveredMessageChangesNothingTwice() async throws {
        try await withRunning { fixture in
            // The same message id three times, as a broker redelivery or a republish would bring it.
            for _ in 0..<3 { try await fixture.send([Ping(n: 7, mode: "ok")]) }
            #expect(try await eventually { fixture.count(.handled) + fixture.count(.duplicate) == 3 })
            #expect(fixture.count(.handled) == 1)
            #expect(fixture.count(.duplicate) == 2)
            #expect(try await fixture.effects() == ["ping-7"])
        }
    }

    @Test func whatAHandlerPublishesGoesThroughTheOutboxAfterCommit() async throws {
        try await withRunning { fixture in
            try await fixture.send((1...20).map { Ping(n: $0, mode: "publish") })
            let pongs = try await fixture.take(20, from: fixture.replyQueue)
            #expect(pongs.count == 20)
            let ns = Set(try pongs.map { try MessageCoding.decode(Pong.self, from: $0.body).n })
            #expect(ns == Set(1...20))
            let pong = try #require(pongs.first)
            #expect(pong.properties.type == Pong.messageType)
            #expect(pong.properties.appID == "runtime-test")
            #expect(pong.properties.messageID?.hasPrefix("ping-") == true, "derived from the delivery's id: \(pong.properties.messageID ?? "")")
            #expect(pong.properties.contentType == "application/json")
            #expect(pong.properties.timestamp != nil)
            #expect(try await eventually {
                try await fixture.pool.query("SELECT count(*) FROM outbox WHERE published_at IS NULL")[0].decode(Int.self, at: 0) == 0
            })
        }
    }

    /// A message the broker routes nowhere is not retried forever nor dropped: the relay
    /// dead-letters it (routing key outbox.unroutable) with the reason, and marks it published.
    @Test func anUnroutableOutboxMessageIsDeadLetteredNotLost() async throws {
        try await withRunning { fixture in
            try await fixture.send([Ping(n: 9, mode: "publish-nowhere")])
            let consumer = try await fixture.amqp.consume(queue: Topology.unroutableRoutingKey, prefetch: 50)
            var found: Delivery?
            let reading = Task { [consumer] () -> Delivery? in
                // Other runs may have left letters here: take ours by its message id.
                for try await delivery in consumer {
                    try delivery.ack()
                    if delivery.properties.messageID == "ping-9/1" { return delivery }
                }
                return nil
            }
            let timeout = Task { try await Task.sleep(for: .seconds(20)); reading.cancel() }
            found = try? await reading.value
            timeout.cancel()
            try? await consumer.cancel()
            let letter = try #require(found, "no dead letter for ping-9/1")
            #expect(letter.properties.headers[Headers.reason]?.stringValue?.hasPrefix("unroutable") == true)
            #expect(letter.properties.headers["x-sampark-routing-key"]?.stringValue == "no-queue-\(fixture.replyQueue)")
            #expect(try await eventually {
                try await fixture.pool.query("SELECT count(*) FROM outbox WHERE published_at IS NULL")[0].decode(Int.self, at: 0) == 0
            }, "marked published, not retried forever")
        }
    }

    @Test func aPermanentFailureIsDeadLetteredAtOnceWithItsReason() async throws {
        try await withRunning { fixture in
            try await fixture.send([Ping(n: 1, mode: "permanent")])
            let dead = try await fixture.take(1, from: fixture.queue.deadQueue)
            let letter = try #require(dead.first)
            #expect(letter.properties.headers[Headers.reason]?.stringValue == "ping 1 can never succeed")
            #expect(letter.properties.headers[Headers.queue]?.stringValue == fixture.queue.name)
            #expect(letter.properties.messageID == "ping-1")
            #expect(fixture.attempts.count(1) == 1, "not retried")
            #expect(try await fixture.effects().isEmpty, "its transaction rolled back")
        }
    }

    /// A requester waiting on `reply_to` hears why at once: `request.rejected.v1` with the
    /// dead letter's reason and the request's correlation id, for a handler's refusal and for
    /// a body that does not decode alike.
    @Test func aRefusedRequestIsAnsweredOnItsReplyQueue() async throws {
        try await withRunning { fixture in
            for (id, body) in [("asks-1", try MessageCoding.encode(Ping(n: 5, mode: "permanent"))),
                               ("asks-2", Array(#"{"n": "five", "mode": "ok"}"#.utf8))] {
                var properties = AMQPProperties(contentType: "application/json", correlationID: "corr-\(id)",
                                                replyTo: fixture.replyQueue, messageID: id)
                properties.type = Ping.messageType
                try await fixture.amqp.publish(OutgoingMessage(exchange: "", routingKey: fixture.queue.name, body: body, properties: properties))
            }
            let answers = try await fixture.take(2, from: fixture.replyQueue)
            #expect(answers.count == 2)
            var byCorrelation: [String: RequestRejected] = [:]
            for answer in answers {
                #expect(answer.properties.type == RequestRejected.messageType)
                byCorrelation[answer.properties.correlationID ?? ""] = try MessageCoding.decode(RequestRejected.self, from: answer.body)
            }
            #expect(byCorrelation["corr-asks-1"] == RequestRejected(requestType: Ping.messageType, reason: "ping 5 can never succeed"))
            #expect(byCorrelation["corr-asks-2"]?.reason.hasPrefix("undecodable test.ping.v1: n is not a") == true)
            #expect(try await fixture.take(2, from: fixture.queue.deadQueue).count == 2, "and both are dead-lettered")
        }
    }

    @Test func aConstraintViolationIsPermanent() async throws {
        try await withRunning { fixture in
            try await fixture.send([Ping(n: 2, mode: "constraint")])
            let letter = try #require(try await fixture.take(1, from: fixture.queue.deadQueue).first)
            #expect(letter.properties.headers[Headers.reason]?.stringValue?.contains("23514") == true)
            #expect(fixture.attempts.count(2) == 1)
        }
    }

    @Test func undecodableUnknownAndAnonymousMessagesAreDeadLettered() async throws {
        try await withRunning { fixture in
            var broken = AMQPProperties(contentType: "application/json", messageID: "broken-1")
            broken.type = Ping.messageType
            try await fixture.amqp.publish(OutgoingMessage(exchange: "", routingKey: fixture.queue.name,
                                                           body: #"{"n": "not a number", "mode": "ok"}"#, properties: broken))
            try await fixture.send([Ping(n: 3, mode: "ok")], type: "test.unknown.v1")
            var anonymous = AMQPProperties(contentType: "application/json", messageID: "")
            anonymous.type = Ping.messageType
            try await fixture.amqp.publish(OutgoingMessage(exchange: "", routingKey: fixture.queue.name,
                                                           body: try MessageCoding.encode(Ping(n: 4, mode: "ok")), properties: anonymous))
            let dead = try await fixture.take(3, from: fixture.queue.deadQueue)
            let reasons = dead.compactMap { $0.properties.headers[Headers.reason]?.stringValue }.sorted()
            #expect(reasons.count == 3)
            #expect(reasons.contains { $0.hasPrefix("undecodable test.ping.v1: n is not a") })
            #expect(reasons.contains { $0.contains("no handler") && $0.contains("test.unknown.v1") })
            #expect(reasons.contains("the message has no message_id"))
            #expect(try await fixture.effects().isEmpty)
        }
    }

    /// A body over the set size is dead-lettered unread, on its own and from a batch, and the
    /// worker goes on with the next message.
    @Test func aBodyOverTheLimitIsDeadLetteredUnread() async throws {
        try await withRunning { fixture in
            let padding = String(repeating: "x", count: RuntimeFixture.maxBodyBytes)
            for (id, type, body) in [("huge-ping", Ping.messageType, #"{"n": 1, "mode": "ok", "pad": "\#(padding)"}"#),
                                     ("huge-tally", Tally.messageType, #"{"n": 2, "mode": "ok", "pad": "\#(padding)"}"#)] {
                var properties = AMQPProperties(contentType: "application/json", messageID: id)
                properties.type = type
                try await fixture.amqp.publish(OutgoingMessage(exchange: "", routingKey: fixture.queue.name, body: body, properties: properties))
            }
            try await fixture.send([Ping(n: 3, mode: "ok")])
            let dead = try await fixture.take(2, from: fixture.queue.deadQueue)
            for letter in dead {
                let reason = letter.properties.headers[Headers.reason]?.stringValue ?? ""
                #expect(reason.hasSuffix("bytes, over the limit of \(RuntimeFixture.maxBodyBytes); not read"), "\(reason)")
                #expect(!reason.contains("xxxx"), "the body is not quoted")
            }
            #expect(Set(dead.compactMap(\.properties.messageID)) == ["huge-ping", "huge-tally"])
            #expect(try await eventually { try await fixture.effects() == ["ping-3"] }, "the next message is handled")
        }
    }

    @Test func aTransientFailureIsRetriedThroughTheDelayQueuesUntilItWorks() async throws {
        try await withRunning { fixture in
            try await fixture.send([Ping(n: 5, mode: "transient:2")])
            #expect(try await eventually { try await fixture.effects() == ["ping-5"] })
            #expect(await eventually { fixture.count(.handled) == 1 })
            #expect(fixture.attempts.count(5) == 3)
            #expect(fixture.count(.retried) == 2)
        }
    }

    /// Who sent a message is what the broker verified (`user_id`, set on every publish to the
    /// connection's own user), and it survives the runner's retries and dead letters in the
    /// `x-sampark-sender` header, which only a trusted publisher's copies are believed on.
    @Test func theSenderIsTheVerifiedUserAndSurvivesRetriesAndDeadLetters() async throws {
        try await withRunning { fixture in
            let own = Sender(user: RuntimeFixture.ownUser, trusted: true)
            try await fixture.send([Ping(n: 1, mode: "transient:1")])
            #expect(try await eventually { try await fixture.effects() == ["ping-1"] })
            #expect(fixture.senders.of(1) == [own, own], "set by the client, verified by the broker, kept on the retry")

            // A copy a trusted user re-published for a centre (as a retry or a replay is): the
            // first sender is the centre's, and not trusted.
            let centre = Sender(user: "centre-drg-01", trusted: false)
            try await fixture.send([Ping(n: 2, mode: "transient:1")], headers: [Headers.sender: .string(centre.user)])
            #expect(try await eventually { try await fixture.effects().contains("ping-2") })
            #expect(fixture.senders.of(2) == [centre, centre])
            try await fixture.send([Ping(n: 3, mode: "permanent")], headers: [Headers.sender: .string(centre.user)])
            let letter = try #require(try await fixture.take(1, from: fixture.queue.deadQueue).first)
            #expect(letter.properties.headers[Headers.sender]?.stringValue == centre.user)
            #expect(letter.properties.userID == RuntimeFixture.ownUser, "the copy is the runner's own publish")

            // Claiming another user is refused by the broker itself (406 PRECONDITION_FAILED).
            await #expect(throws: AMQPError.self) {
                try await fixture.send([Ping(n: 4, mode: "ok")], userID: centre.user)
            }
            #expect(fixture.attempts.count(4) == 0, "never delivered")
        }
    }

    @Test func aMessageThatNeverWorksEndsDeadLetteredNotSpinning() async throws {
        try await withRunning { fixture in
            try await fixture.send([Ping(n: 6, mode: "always-transient")])
            let letter = try #require(try await fixture.take(1, from: fixture.queue.deadQueue).first)
            let reason = letter.properties.headers[Headers.reason]?.stringValue ?? ""
            #expect(reason.hasPrefix("gave up after 4 attempts"), "\(reason)")
            #expect(letter.properties.headers[Headers.attempt]?.intValue == 4)
            #expect(fixture.attempts.count(6) == 4, "tried once and retried once per delay, no more")
        }
    }
}

/// The inbox and the outbox do not grow without end.
@Suite struct OutboxRetentionTests {
    @Test func onlyRowsPastKeepingAreDeleted() async throws {
        try await RuntimeFixture.with { fixture in
            try await fixture.pool.execute("""
                INSERT INTO outbox (exchange, routing_key, message_id, type, body, published_at) VALUES
                    ('', 'q', 'old-published', 't', '\\x00', now() - interval '2 hours'),
                    ('', 'q', 'new-published', 't', '\\x00', now() - interval '5 minutes'),
                    ('', 'q', 'old-unpublished', 't', '\\x00', NULL);
                """)
            try await fixture.pool.execute("""
                INSERT INTO inbox (consumer, message_id, received_at) VALUES
                    ('q', 'old', now() - interval '8 days'), ('q', 'recent', now() - interval '6 days');
                """)
            let removed = try await fixture.relay.cleanUp()
            #expect(removed.outbox == 1)
            #expect(removed.inbox == 1)
            let outbox = try await fixture.pool.query("SELECT message_id FROM outbox ORDER BY message_id").map { try $0.decode(String.self, at: 0) }
            #expect(outbox == ["new-published", "old-unpublished"], "unpublished rows are never deleted, however old")
            let inbox = try await fixture.pool.query("SELECT message_id FROM inbox ORDER BY message_id").map { try $0.decode(String.self, at: 0) }
            #expect(inbox == ["recent"])
        }
    }
}

/// The relay keeps batches in flight while rows are waiting, and relays side by side share the
/// rows: each is published once and marked once.
@Suite struct OutboxRelayTests {
    @Test func twoRelaysWithBatchesInFlightPublishEveryRowOnce() async throws {
        try await RuntimeFixture.with { fixture in
            let rows = 1_050
            try await fixture.pool.execute("""
                INSERT INTO outbox (exchange, routing_key, message_id, type, body)
                SELECT '', $1, 'row-' || i, 'test.pong.v1', convert_to('{"n":' || i || '}', 'UTF8') FROM generate_series(1, $2) i
                """, [fixture.replyQueue, rows])
            var logger = Logger(label: "relay-test")
            logger.logLevel = .warning
            // Batches of 100, three in flight each: eleven batches, claimed by both at once.
            let relays = (1...2).map { _ in
                OutboxRelay(settings: .init(batchSize: 100, batchesInFlight: 3), amqp: fixture.amqp, pool: fixture.pool, logger: logger)
            }
            let published = try await withThrowingTaskGroup(of: Int.self) { group in
                for relay in relays { group.addTask { try await relay.relayWaiting() } }
                return try await group.reduce(0, +)
            }
            #expect(published == rows, "the relays together published each row once")
            #expect(try await fixture.pool.query("SELECT count(*)::int FROM outbox WHERE published_at IS NULL")[0].decode(Int.self, at: 0) == 0)
            let delivered = try await fixture.take(rows + 1, from: fixture.replyQueue, timeout: .seconds(10))
            let ids = delivered.compactMap(\.properties.messageID)
            #expect(ids.count == rows, "no row published twice: \(ids.count) messages")
            #expect(Set(ids) == Set((1...rows).map { "row-\($0)" }))
        }
    }
}

/// A message whose sealed number does not open is dead-lettered as stored, with the reason,
/// and the rows around it go out: one bad row never holds up a worker's outbox.
@Suite struct OutboxUnpublishableTests {
    @Test func aNumberThatDoesNotOpenIsDeadLetteredAndTheRestGoOut() async throws {
        try await RuntimeFixture.with { fixture in
            // A queue of this test's own on the dead letters' route (other tests read the
            // shared outbox.unroutable queue).
            let letters = TestEnvironment.uniqueName("rt.letters")
            try await fixture.amqp.declare(QueueDeclaration(name: letters, durable: false, exclusive: true, autoDelete: true))
            try await fixture.amqp.bind(QueueBinding(queue: letters, exchange: Topology.deadLetterExchange, routingKey: Topology.unroutableRoutingKey))
            let bad = "bad-\(letters)"
            try await fixture.pool.execute("""
                INSERT INTO outbox (exchange, routing_key, message_id, type, body, phone_sealed) VALUES
                    ('', $1, 'good-1', 'test.pong.v1', convert_to('{"n":1}', 'UTF8'), NULL),
                    ('', $1, $2, 'call.offer.v2', convert_to('{"contact" : {"phone" : ""}}', 'UTF8'), '\\x01000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d'),
                    ('', $1, 'good-2', 'test.pong.v1', convert_to('{"n":2}', 'UTF8'), NULL)
                """, [fixture.replyQueue, bad])
            var logger = Logger(label: "relay-test")
            logger.logLevel = .critical
            let relay = OutboxRelay(settings: .init(batchSize: 100, phoneVault: TestPhones.vault), amqp: fixture.amqp, pool: fixture.pool, logger: logger)
            #expect(try await relay.relayWaiting() == 3, "two published, one dead-lettered: all three settled")
            #expect(try await fixture.pool.query("SELECT count(*)::int FROM outbox WHERE published_at IS NULL")[0].decode(Int.self, at: 0) == 0)
            let delivered = try await fixture.take(2, from: fixture.replyQueue, timeout: .seconds(10))
            #expect(Set(delivered.compactMap(\.properties.messageID)) == ["good-1", "good-2"])
            let letter = try #require(try await fixture.take(1, from: letters, timeout: .seconds(10)).first)
            #expect(letter.properties.messageID == bad)
            #expect(letter.properties.headers[Headers.reason]?.stringValue?.hasPrefix("cannot be published: a value sealed with phone key 1 does not open") == true,
                    "\(String(describing: letter.properties.headers[Headers.reason]))")
            #expect(String(decoding: letter.body, as: UTF8.self) == #"{"contact" : {"phone" : ""}}"#, "as stored: no number put in")
        }
    }
}

/// A gateway's offer is stored with its number sealed beside a body whose phone is empty and
/// last; the relay puts the number there, and refuses a body of any other shape.
@Suite struct OutboxPhoneTests {
    @Test func theNumberGoesIntoTheEmptyPhoneAtTheBodysEnd() throws {
        let body = Array(#"{"attempt_id" : 7, "contact" : {"name" : "A", "phone" : ""}}"#.utf8)
        let published = try OutboxRelay.body(body, withPhone: "+919876543210")
        #expect(String(decoding: published, as: UTF8.self) == #"{"attempt_id" : 7, "contact" : {"name" : "A", "phone" : "+919876543210"}}"#)
        #expect(throws: PhoneVault.Failure.self) { try OutboxRelay.body(Array(#"{"phone" : "x"}}"#.utf8), withPhone: "+919876543210") }
        #expect(throws: PhoneVault.Failure.self) { try OutboxRelay.body(body, withPhone: "\"}, \"x\" : \"") }
    }
}
