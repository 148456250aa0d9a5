// Parses Adaptive Cards with Microsoft's `adaptivecards` renderer (the one Teams and the
// tab use) and prints, for each card, the warnings and errors the parser reported.
// stdin: a JSON array of cards; stdout: a JSON array of arrays of messages.
const AC = require(process.argv[2]);

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const reports = JSON.parse(input).map((payload) => {
    const context = new AC.SerializationContext();
    new AC.AdaptiveCard().parse(payload, context);
    const messages = [];
    for (let i = 0; i < context.eventCount; i++) {
      messages.push(context.getEventAt(i).message);
    }
    return messages;
  });
  process.stdout.write(JSON.stringify(reports));
});
