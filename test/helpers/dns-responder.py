# A tiny DNS server for the network tests: answers A queries for names ending in .example.test
# with the address given on the command line, NOERROR/empty for other types of those names, and
# NXDOMAIN for everything else. Usage: python3 dns-responder.py LISTEN_IP ANSWER_IP
import socket
import struct
import sys

listen, answer = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((listen, 53))
while True:
    data, peer = s.recvfrom(512)
    qid, flags = struct.unpack(">HH", data[:4])
    i, labels = 12, []
    while data[i] != 0:
        labels.append(data[i + 1 : i + 1 + data[i]].decode())
        i += 1 + data[i]
    qtype = struct.unpack(">H", data[i + 1 : i + 3])[0]
    question = data[12 : i + 5]
    name = ".".join(labels).lower()
    ours = name.endswith("example.test")
    rcode = 0 if ours else 3
    answers = b""
    if ours and qtype == 1:
        answers = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(answer)
    header = struct.pack(">HHHHHH", qid, 0x8180 | rcode, 1, 1 if answers else 0, 0, 0)
    s.sendto(header + question + answers, peer)
