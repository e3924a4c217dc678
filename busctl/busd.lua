-- busd.lua - a Wireshark dissector for busctl capture's pcap files (link
-- type USER0, 147): the frame preamble and every bus.Header field as named
-- fields (busd.kind, busd.member, ...) for display filters; the body goes to
-- Wireshark's protobuf dissector with the header's body_type.
--
--   tshark -X lua_script:/usr/local/share/busd/busd.lua -r bus.pcap
--
-- The header layout is docs/protocol.md's (proto/bus.proto, bus.Header).

local busd = Proto("busd", "busd bus frame")

local kinds = { [1] = "CALL", [2] = "REPLY", [3] = "ERROR", [4] = "EVENT" }

local f = {
	version = ProtoField.uint8("busd.version", "Version"),
	frame_flags = ProtoField.uint8("busd.frame_flags", "Frame flags", base.HEX),
	header_len = ProtoField.uint32("busd.header_len", "Header length"),
	body_len = ProtoField.uint32("busd.body_len", "Body length"),
	kind = ProtoField.uint32("busd.kind", "Kind", base.DEC, kinds),
	flags = ProtoField.uint32("busd.flags", "Flags", base.HEX),
	no_reply = ProtoField.bool("busd.flags.no_reply_expected", "No reply expected", 32, nil, 1),
	serial = ProtoField.uint64("busd.serial", "Serial"),
	reply_serial = ProtoField.uint64("busd.reply_serial", "Reply serial"),
	destination = ProtoField.string("busd.destination", "Destination"),
	interface = ProtoField.string("busd.interface", "Interface"),
	member = ProtoField.string("busd.member", "Member (method or topic)"),
	sender = ProtoField.string("busd.sender", "Sender"),
	body_type = ProtoField.string("busd.body_type", "Body type"),
	fd_count = ProtoField.uint32("busd.fd_count", "Fd count"),
	error_name = ProtoField.string("busd.error_name", "Error name"),
	error_message = ProtoField.string("busd.error_message", "Error message"),
	memfd_body_size = ProtoField.uint64("busd.memfd_body_size", "Out-of-line body size (memfd)"),
	unknown = ProtoField.uint32("busd.unknown_field", "Unknown header field"),
	body = ProtoField.bytes("busd.body", "Body"),
}
busd.fields = f

local e_malformed = ProtoExpert.new("busd.malformed", "Malformed busd frame",
	expert.group.MALFORMED, expert.severity.ERROR)
local e_cut = ProtoExpert.new("busd.body_cut", "Body cut at the capture's snaplen",
	expert.group.UNDECODED, expert.severity.NOTE)
busd.experts = { e_malformed, e_cut }

-- bus.Header field number -> its ProtoField, the wire type it must have
-- (0 varint, 2 length-delimited) and the kind of value.
local header = {
	[1] = { f.kind, 0, "u32" }, [2] = { f.flags, 0, "u32" },
	[3] = { f.serial, 0, "u64" }, [4] = { f.reply_serial, 0, "u64" },
	[5] = { f.destination, 2 }, [6] = { f.interface, 2 }, [7] = { f.member, 2 },
	[8] = { f.sender, 2 }, [9] = { f.body_type, 2 }, [10] = { f.fd_count, 0, "u32" },
	[11] = { f.error_name, 2 }, [12] = { f.error_message, 2 },
	[13] = { f.memfd_body_size, 0, "u64" },
}

-- Wireshark's protobuf dissector (3.2 and later); bodies stay bytes without.
local have_protobuf, protobuf = pcall(Dissector.get, "protobuf")
if not have_protobuf then
	protobuf = nil
end

-- A varint at off (below limit): its value as a UInt64 and the offset after
-- it, or nil when it is cut or longer than ten bytes.
local function varint(tvb, off, limit)
	local v = UInt64(0)
	for i = 0, 9 do
		if off + i >= limit then
			return nil
		end
		local b = tvb(off + i, 1):uint()
		v = v + UInt64(b % 128):lshift(7 * i)
		if b < 128 then
			return v, off + i + 1
		end
	end
	return nil
end

-- The header's fields into tree; returns a table of the values by name,
-- or nil and why when the header is malformed.
local function dissect_header(tvb, tree, off, limit)
	local seen = {}
	while off < limit do
		local start = off
		local tag, v, len
		tag, off = varint(tvb, off, limit)
		if not tag then
			return nil, "truncated field tag"
		end
		local num, wt = (tag / 8):tonumber(), (tag % 8):tonumber()
		local known = header[num]
		if known and known[2] ~= wt then
			return nil, string.format("field %d has wire type %d", num, wt)
		end
		if wt == 0 then
			v, off = varint(tvb, off, limit)
			if not v then
				return nil, string.format("field %d: truncated varint", num)
			end
		elseif wt == 2 then
			len, off = varint(tvb, off, limit)
			if not len or UInt64(limit - off) < len then
				return nil, string.format("field %d: truncated", num)
			end
			len = len:tonumber()
		elseif wt == 1 or wt == 5 then
			len = wt == 1 and 8 or 4
			if off + len > limit then
				return nil, string.format("field %d: truncated", num)
			end
		else
			return nil, string.format("field %d has wire type %d", num, wt)
		end
		if known and wt == 0 then
			local r = tvb(start, off - start)
			if known[3] == "u64" then
				tree:add(known[1], r, v)
				seen[num] = v
			else
				local n = (v % UInt64(4294967296)):tonumber()
				local item = tree:add(known[1], r, n)
				if num == 2 then
					item:add(f.no_reply, r, n)
				end
				seen[num] = n
			end
		elseif known then
			local s = tvb(off, len):string(ENC_UTF_8)
			tree:add(known[1], tvb(start, off + len - start), s)
			seen[num] = s
			off = off + len
		else
			tree:add(f.unknown, tvb(start, (len and off + len or off) - start), num)
			off = off + (len or 0)
		end
	end
	return seen
end

function busd.dissector(tvb, pinfo, tree)
	local avail = tvb:len()
	if avail < 12 or tvb(0, 1):uint() ~= 0x42 or tvb(1, 1):uint() ~= 0x44 then
		return 0
	end
	pinfo.cols.protocol = "busd"
	local hlen, blen = tvb(4, 4):le_uint(), tvb(8, 4):le_uint()
	local t = tree:add(busd, tvb(0, math.min(avail, 12 + hlen + blen)))
	t:add(f.version, tvb(2, 1))
	t:add(f.frame_flags, tvb(3, 1))
	t:add_le(f.header_len, tvb(4, 4))
	t:add_le(f.body_len, tvb(8, 4))
	if hlen == 0 or 12 + hlen > avail then
		t:add_proto_expert_info(e_malformed, "header length beyond the record")
		return avail
	end
	local ht = t:add(tvb(12, hlen), "Header")
	local h, why = dissect_header(tvb, ht, 12, 12 + hlen)
	if not h then
		ht:add_proto_expert_info(e_malformed, why)
		pinfo.cols.info = "malformed header: " .. why
		return avail
	end

	local kind = kinds[h[1]] or ("kind " .. tostring(h[1] or 0))
	local info = string.format("%-5s %s -> %s", kind, h[8] or "?", h[5] or "*")
	if h[7] then
		info = info .. " " .. (h[6] and h[6] .. "." or "") .. h[7]
	end
	info = info .. " serial=" .. tostring(h[3] or 0)
	if h[4] then
		info = info .. " reply_serial=" .. tostring(h[4])
	end
	if h[11] then
		info = info .. " " .. h[11] .. ": " .. (h[12] or "")
	end
	pinfo.cols.info = info

	local got = avail - 12 - hlen
	if blen == 0 then
		return avail
	end
	if got < blen then
		t:add_proto_expert_info(e_cut, string.format("%d of %d body bytes captured", got, blen))
	end
	if got == 0 then
		return avail
	end
	local body = tvb(12 + hlen, math.min(got, blen))
	t:add(f.body, body)
	if protobuf and got >= blen then
		-- The protobuf dissector names the fields when its search paths
		-- hold the type's .proto; otherwise it shows numbers and values.
		pinfo.private["pb_msg_type"] = h[9] and ("message," .. h[9]) or nil
		protobuf:call(body:tvb(), pinfo, tree)
	end
	return avail
end

DissectorTable.get("wtap_encap"):add(wtap_encaps.USER0, busd)
