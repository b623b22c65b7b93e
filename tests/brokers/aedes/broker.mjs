// Aedes on 127.0.0.1:PORT (argv[2]), for tests/delivery/test_other_brokers.py. Prints "listening" once ready
// and every connection error (an MQTT 5 CONNECT: "unacceptable protocol version").
import net from 'node:net'
import { Aedes } from 'aedes'

const port = Number(process.argv[2])
const aedes = await Aedes.createBroker()
aedes.on('clientError', (client, err) => console.log('clientError', client && client.id, err.message))
aedes.on('connectionError', (client, err) => console.log('connectionError', err.message))
net.createServer(aedes.handle).listen(port, '127.0.0.1', () => console.log('listening', port))
