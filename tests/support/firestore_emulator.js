// Starts @firestore-emulator/server on 127.0.0.1 (its own start() binds 0.0.0.0) on the port given
// (0: a free one) and prints "listening <port>" once it accepts connections. Stops on SIGTERM or
// when its parent closes stdin. Used by tests/support/firestore_emulator.py.
const { FirestoreServer } = require("@firestore-emulator/server");
const grpc = require("@grpc/grpc-js");

const server = new FirestoreServer();
server.server.bindAsync(
  `127.0.0.1:${process.argv[2] || 0}`,
  grpc.ServerCredentials.createInsecure(),
  (err, port) => {
    if (err) {
      console.error(err.message);
      process.exit(1);
    }
    console.log(`listening ${port}`);
  },
);
const stop = () => {
  server.stop();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.stdin.on("end", stop);
process.stdin.resume();
