"""The words that belong to a number, per language: units, scales, counters, currencies,
times of day, and the function words a number never takes.

Data only, read by :mod:`.facts`, which turns each table into a pattern. A word ending in
``+`` is a stem: it also matches with an inflection ending of up to three letters
(``гектар+``: гектар, гектара, гектаров; ``kilómetro+``: kilómetros; ``Stunde+``: Stunden).
Tables are small on purpose: a word missing from them still travels with its number when
it is the noun the number counts (see ``FUNCTION_WORDS``).
"""

from __future__ import annotations

# Scale words: a number takes them first (15,6 Millionen, 103만, ४५ करोड़, 15 тысяч).
SCALES = """
    k M bn mn Mio Mio. Mrd Mrd. Md Md. mln mln. mld mld. thousand+ million+ billion+
    trillion+ hundred+ dozen+ mille millier+ milliard+ Tausend Million+ Milliarde+ mil
    millón millones millar+ milione milioni miliardo miliardi mila milhão milhões bilhão
    bilhões тыс тыс. тысяч+ тысяча+ млн млн. миллион+ млрд млрд. миллиард+ ألف آلاف مليون
    ملايين مليار هज़ार हजार लाख करोड़ करोड़
"""

# Units of measure and of time, in the languages of the benchmark and their neighbours;
# exact symbols first, then words (stems where the language inflects).
MEASURES = """
    km m cm mm µm μm nm mi ft yd in² m² m2 km² km2 m³ ha kg g mg µg lb lbs oz t l L ml mL cl
    dl gal s sec secs ms µs μs ns min mins h hr hrs Hz kHz MHz GHz B KB kB MB GB TB PB KiB
    MiB GiB TiB bit bits kbps Kbps Mbps Gbps W kW MW GW Wh kWh MWh V mV kV A mA mAh Ω °C °F °
    K px pt dpi fps rpm bar psi Pa hPa kPa MPa mol cal kcal J kJ MJ dB x × km/h m/s mph rps
    qps tps req/s ops/s IOPS vCPU vCPUs
    kilometre+ kilometer+ metre+ meter+ centimetre+ centimeter+ millimetre+ millimeter+
    mile+ feet foot inch+ yard+ hectare+ acre+ kilogram+ gram+ tonne+ litre+ liter+ gallon+
    second+ minute+ hour+ day+ week+ month+ year+ decade+ century centuries megawatt+
    kilowatt+ watt+ volt+ degree+ byte+ kilobyte+ megabyte+ gigabyte+ terabyte+
    kilomètre+ mètre+ centimètre+ kilogramme+ gramme+ seconde+ heure+ jour+ semaine+ mois
    ans année+ siècle+ mégawatt+ kilowattheure+ degré+
    Kilometer+ Meter+ Zentimeter+ Millimeter+ Quadratmeter+ Hektar Kilogramm+ Gramm+ Tonne+
    Liter+ Sekunde+ Minute+ Stunde+ Tag+ Woche+ Monat+ Jahr+ Jahrzehnt+ Jahrhundert+
    Megawatt+ Kilowatt+ Kilowattstunde+ Megawattstunde+ Grad
    kilómetro+ metro+ centímetro+ kilo+ kilogramo+ gramo+ tonelada+ litro+ hectárea+
    segundo+ minuto+ hora+ día+ semana+ mes meses año+ siglo+ megavatio+ kilovatio+ grado+
    chilometr+ giorn+ anni anno settiman+ quilômetr+ quilómetr+ dia+ ano+
    километр+ метр+ сантиметр+ миллиметр+ гектар+ килограмм+ грамм+ тонн+ литр+ секунд+
    минут+ час+ день дня дней недел+ месяц+ год года году лет век+ мегаватт+ киловатт+
    градус+ км м см мм кг г т л мл с сек мин ч Гб ГБ Мб МБ °С
    كيلومتر+ كم متر+ هكتار+ دقيقة دقائق ثانية ثوان ساعة ساعات يوم+ أيام أسبوع+ أسابيع شهر+
    أشهر سنة سنوات عام+ أعوام ميغاواط كيلوواط طن+ لتر+
    किलोमीटर मीटर लीटर हेक्टेयर किलो किलोग्राम टन मिनट घंटे घंटा घंटों दिन सप्ताह हफ़्ते हफ्ते
    महीने महीना साल वर्ष मेगावाट
"""

# The words of Chinese and Japanese that follow a number (a count, a measure, money); a
# number may take two (万人次, 億円, 日間).
CJK_COUNTERS = """
    个 個 つ 人 人次 名 位 口 本 枚 匹 头 頭 只 隻 台 辆 輛 架 艘 件 回 次 遍 度 倍 割 成 元 円
    圓 块 塊 角 毛 米 公里 千米 公斤 克 斤 升 吨 噸 毫米 厘米 平方米 平方公里 公顷 千瓦 兆瓦
    千瓦时 页 頁 章 条 條 項 项 種 种 杯 张 張 部 家 所 座 栋 棟 軒 階 层 層 站 歩 步 番 羽
    万 萬 亿 億 兆 千 百 行 列 字 画 冊 册 篇 届 屆 期 题 題 道 歳 岁 才 美元 欧元 歐元 日元
    港元 英镑 英鎊 卢布 盧布 卢比 盧比 澳元 加元 瑞郎 ドル ユーロ ポンド ウォン ルーブル ルピー フラン
    ペソ バーツ 英里 英尺 英寸 海里 マイル フィート インチ キロ メートル センチ ミリ グラム リットル ヶ所 か所 箇所 % ％ 間 间
"""
CJK_DATE_COUNTERS = """
    年 月 日 号 號 時 时 分 秒 時間 小时 小時 分钟 分鐘 点 點 点钟 點鐘 半 周年 世纪 世紀 ヶ月 か月
    カ月 箇月 个月 個月 天 週間 周 週 晩 年間 日間 分間 秒間
"""
# Words before a CJK number that belong to it (an ordinal, "each", a time of day, an era).
# Approximators (約, 约, 大约) do not, in any language: see docs/protection.md.
CJK_PREFIXES = "第 毎 每 午前 午後 上午 下午 中午 晚上 凌晨 早上 公元 西暦 令和 平成 昭和"

# Korean: units and counters after a number (with or without a space), the time counters of
# dates and clocks, currencies, and the time-of-day words before a clock time.
KOREAN_SCALES = "만 억 천 조"
KOREAN_COUNTERS = """
    명 분 발 개 개월 석 회 번 곳 대 권 마리 살 세 채 척 편 잔 병 층 호선 호 배 건 가구 킬로미터
    미터 센티미터 킬로그램 그램 톤 리터 헥타르 퍼센트
"""
KOREAN_TIME_COUNTERS = "년 월 일 시간 시 분 초 주 주일"
KOREAN_CURRENCIES = "원 달러 엔 유로 위안"
KOREAN_TIMES_OF_DAY = "오전 오후 아침 낮 저녁 밤 새벽 정오"
# A fact ends before these: Korean particles and endings written onto the word before.
KOREAN_PARTICLES = """
    이 가 은 는 을 를 의 에 에서 에게 께 와 과 도 만 까지 부터 로 으로 보다 처럼 마다 씩 째 이나
    나 이며 이고 이다 입니다 이었 였 이면 짜리 가량 정도 쯤 뿐
"""

# Thai: scales, units and classifiers written after a number (a space between is optional).
THAI_SCALES = "ล้าน แสน หมื่น พัน"
THAI_UNITS = """
    กิโลเมตร เมตร เซนติเมตร มิลลิเมตร ตารางเมตร กิโลกรัม กรัม ตัน ลิตร ไร่ วินาที นาที ชั่วโมง
    วัน สัปดาห์ เดือน ปี คน ร้าน แห่ง คัน ครั้ง ตัว อัน หลัง ลำ เล่ม ใบ ชิ้น ห้อง เที่ยว
"""

# Times of day around a clock time: written after it (صباحًا, बजे) or before it (सुबह).
TIME_OF_DAY_AFTER = "صباحًا صباحا صباحاً مساءً مساء مساءا ظهرًا ظهرا عصرًا عصرا ليلًا ليلا बजे"
TIME_OF_DAY_BEFORE = "सुबह शाम दोपहर रात"

# Words a bare number never takes as the noun it counts (en, fr, de, es, it, pt, ru, ar,
# hi): articles, prepositions, conjunctions, pronouns, auxiliaries, a few adverbs.
FUNCTION_WORDS = """
    a an the and or but nor of in on at to for from by with as than then into onto over
    under per via vs is are was were be been being am has have had do does did will would
    can could may might must shall should it its this that these those which who whom whose
    what when where while if so not no also only just about around after before since until
    up down out off more less most least each every all both such same other another some
    any many much few several again still yet even ever very too plus minus above below
    within between among against beyond approximately roughly nearly almost exactly
    le la les l un une des du de d au aux et ou mais ni que qui quoi dont où ce cet cette
    ces son sa ses leur leurs en dans sur sous pour par avec sans chez entre vers depuis
    pendant avant après contre selon est sont était étaient été être ont avait avaient sera
    seront ne pas plus moins très aussi lorsque quand si comme y il elle ils elles on se
    soit
    der die das den dem des ein eine einer eines einem einen und oder aber doch sondern als
    wie wenn weil dass ob zu zum zur im am an auf aus bei mit nach seit von vor bis für
    gegen ohne um über unter durch zwischen ist sind war waren wird werden wurde wurden hat
    haben hatte hatten sein nicht auch noch nur schon sehr mehr weniger pro je es er sie wir
    ihr man sich da dann
    el los las lo unos unas y e o u pero quien cual cuyo donde cuando al con sin por para
    desde hasta hacia sobre tras según es son fue fueron era eran está están ha han había su
    sus más menos muy también ya cada
    il lo gli i uno ed ma che chi cui dove di del della dei delle alla nel nella su tra fra
    da dal è sono erano hanno non più meno molto anche ogni
    os as um uma umas e do da dos das em no na nos nas pelo pela com sem até é são foi
    estão há não mais muito também
    и а но или да же ли бы в во на с со к ко по за из у о об от до для при через над под
    между без после перед около более менее что как это то не ни уже ещё еще лишь только
    و في من إلى الى على عن مع أو ثم أن إن لا ما لم لن قد كان كانت هذا هذه ذلك تلك التي
    الذي حتى منذ عند بعد قبل خلال نحو حوالي أكثر أقل كل بين
    से तक में को का की के और है हैं था थी थे पर ने भी ही या तो कि जो वह यह लगभग करीब प्रति
"""
