"""What customers and the assistant say, per issue topic: several paraphrases each.

Slots: {order} {product} {size} {code} {country} {qty} {days} {page}. Help-page topics get
answers that point to their page; content-gap topics get vague answers (there is nothing to
point to), which is why they resolve less often.
"""

from __future__ import annotations

OPENERS: dict[str, tuple[str, ...]] = {
    "returns_exchanges": (
        "Hi, I'd like to return the {product} I bought, how does that work?",
        "how do i exchange a {product} for a different size",
        "Can I still return order {order}? It's been about three weeks",
        "hello, the {product} doesn't suit me. do you do refunds or only exchanges?",
        "I want to send back part of my order {order}, is return shipping free?",
        "What's your returns policy? Bought a {product} as a gift",
        "need to swap my {product} from size {size} to a bigger one",
    ),
    "shipping_delay": (
        "My order {order} still hasn't arrived, it's been {days} days",
        "where is my parcel?? ordered a week ago and nothing",
        "Hi, the delivery date for {order} has passed. What's going on?",
        "is there a delay with shipping at the moment? still waiting for my {product}",
        "Tracking hasn't updated in {days} days for order {order}",
        "my package is late and I need it for the weekend",
    ),
    "sizing_fit": (
        "What size {product} should I get? I'm usually a {size}",
        "does the {product} run small or true to size",
        "Hi! I'm between {size} and the next size up for the {product}, which one?",
        "how long are the sleeves on the {product} in size {size}?",
        "is the {product} a slim fit? I have broad shoulders",
        "Do you have a size chart for the {product}",
    ),
    "discount_codes": (
        "My discount code {code} isn't working at checkout",
        "the code {code} says invalid, can you help?",
        "Do you have a first order discount?",
        "can I use two codes on one order? {code} and my student discount",
        "Hi, I got {code} in the newsletter but it doesn't apply to sale items?",
        "promo code not accepted, it says expired but the email said valid till sunday",
    ),
    "bulk_quotes": (
        "Hi, we need {qty} polo shirts with our logo for staff. Can you send a quote?",
        "do you offer bulk pricing for companies? looking at about {qty} hoodies",
        "We're a {industry} company and want to order uniforms for {qty} people, who do I talk to?",
        "Can we get an invoice and a volume discount for {qty} units of the work polo?",
        "is it possible to get custom embroidery on {qty} fleece hoodies? need a price",
        "Looking for a quote for team clothing, roughly {qty} pieces, delivery in {days} weeks",
        "what's the minimum order for business accounts and do you do net 30 payment?",
    ),
    "payment_failed": (
        "My payment keeps failing at checkout",
        "card declined but money was taken from my account??",
        "Hi, Klarna won't go through for order {order}",
        "i tried to pay 3 times and got an error, is something wrong with the site",
        "PayPal payment failed but I got charged twice",
        "Why does it say payment could not be processed? My card works everywhere else",
    ),
    "order_tracking": (
        "Can you tell me where order {order} is?",
        "how do I track my order",
        "Hi, I didn't get a tracking number for {order}",
        "where can i see the status of my order",
        "Has my order {order} shipped yet?",
        "the tracking link in the email doesn't work",
    ),
    "damaged_item": (
        "The {product} arrived with a hole in it",
        "my {product} came damaged, the zip is broken",
        "Hi, there's a stain on the {product} I received in order {order}",
        "the seam on my new {product} ripped after one wear, what can you do?",
        "received the wrong colour and it was torn as well",
        "Item in order {order} is faulty. I want a replacement not a refund",
    ),
    "account_login": (
        "I can't log in to my account",
        "password reset email never arrives",
        "Hi, how do I change the email address on my account?",
        "my account is locked after too many attempts",
        "i want to delete my account and data",
        "Can't see my past orders when I sign in",
    ),
    "product_care": (
        "How should I wash the {product}? Don't want it to shrink",
        "can the merino sweater go in the dryer",
        "Does the organic cotton tee shrink after washing?",
        "what's the {product} made of? is it real wool",
        "how do I get the rain jacket waterproof again after washing",
        "Hi, my {product} is pilling already, is that normal and how do I fix it?",
        "is the {product} machine washable or dry clean only",
    ),
    "customs_duties": (
        "Do I have to pay customs fees if I order to {country}?",
        "will there be import duty on an order shipped to {country}",
        "Hi, I got a bill for customs charges on order {order}, is that right?",
        "do you ship to {country} and are duties included in the price",
        "the courier wants extra money for customs before delivering my parcel",
        "how much is VAT and duty for {country}",
    ),
    "gift_cards": (
        "How do I use a gift card on my order?",
        "can I buy a gift card and send it by email",
        "Hi, my gift card balance is wrong",
        "does the gift card expire?",
        "can I pay with a gift card and a credit card together",
    ),
}

DETAILS: dict[str, tuple[str, ...]] = {
    "returns_exchanges": (
        "It's unworn with tags on.",
        "do I need to print a label?",
        "how long does the refund take",
    ),
    "shipping_delay": (
        "I paid for express shipping as well",
        "The tracking just says in transit",
        "can you send a new one if it's lost?",
    ),
    "sizing_fit": (
        "I'm 180cm and about 75kg",
        "the last one I bought in {size} was a bit tight",
        "what about after washing, does it shrink?",
    ),
    "discount_codes": (
        "The basket total is over the minimum",
        "I'm logged in with the same email the code was sent to",
        "it worked last time",
    ),
    "bulk_quotes": (
        "We'd need sizes S to XXL and two colours",
        "Our logo is a two-colour print",
        "Is there someone from sales I can email?",
        "We need them before an event in {days} weeks",
    ),
    "payment_failed": (
        "It's a Visa card",
        "I've tried two different browsers",
        "the bank says nothing was blocked",
    ),
    "order_tracking": (
        "I ordered on Monday",
        "it's for a birthday on Saturday",
        "the order confirmation says processing",
    ),
    "damaged_item": (
        "I can send a photo",
        "I only opened the parcel today",
        "it was a present so this is embarrassing",
    ),
    "account_login": (
        "I checked the spam folder",
        "I signed up with Google originally",
        "it says the email is not registered",
    ),
    "product_care": (
        "the label is cut off already",
        "I washed it once at 40 degrees",
        "I want it to last a long time",
    ),
    "customs_duties": (
        "Nothing at checkout mentioned it",
        "It was around 200 euros",
        "Can you refund the duty?",
    ),
    "gift_cards": (
        "The card number starts with GC",
        "I got it for my birthday",
        "the checkout doesn't show a gift card field",
    ),
}

ANSWERS_WITH_PAGE = (
    "Happy to help! Everything you need is here: {page}. {hint}",
    "Thanks for reaching out. {hint} You can find the details at {page}.",
    "Sure! {hint} More info: {page}",
)
HINTS: dict[str, tuple[str, ...]] = {
    "returns_exchanges": (
        "You can return or exchange items within 60 days, and return shipping is free.",
        "Start a return from your account, print the label and drop it off.",
    ),
    "shipping_delay": (
        "Some deliveries are running a few days late at the moment.",
        "If a parcel is more than 5 days late we can send a replacement.",
    ),
    "sizing_fit": (
        "This style is true to size; if you're between sizes, go up one.",
        "Our size guide lists chest, waist and sleeve measurements per size.",
    ),
    "discount_codes": (
        "Codes can't be combined and don't apply to sale items.",
        "Welcome codes only work on the first order of an account.",
    ),
    "payment_failed": (
        "Failed payments are released by your bank within 3-5 days.",
        "Please check 3D Secure is enabled, or try PayPal or Klarna.",
    ),
    "order_tracking": (
        "Your tracking link is in the shipping email and in your account.",
        "Orders ship within 1-2 working days.",
    ),
    "account_login": (
        "You can reset your password from the sign-in page.",
        "If the reset email doesn't arrive, check spam or use the account email.",
    ),
    "gift_cards": (
        "Enter the gift card code in the payment step at checkout.",
        "Gift cards are valid for 3 years and can be combined with a card payment.",
    ),
}
VAGUE_ANSWERS: dict[str, tuple[str, ...]] = {
    "bulk_quotes": (
        "I'm not able to create quotes here, but I can pass your request on.",
        "We do sell to businesses. For pricing I'll need to check with the team.",
    ),
    "damaged_item": (
        "I'm sorry to hear that! Could you tell me more about the damage?",
        "Sorry about that. Damaged items are handled case by case.",
    ),
    "product_care": (
        "Please follow the care label on the garment.",
        "I don't have specific care instructions for that product, sorry.",
    ),
    "customs_duties": (
        "Duties depend on your country and the order value.",
        "I'm not sure about customs charges for that destination, sorry.",
    ),
}
GENERIC_VAGUE = (
    "Let me look into that for you.",
    "I'm not sure I understood, could you rephrase?",
)
GREETINGS = (
    "Hi! I'm the Shop Example assistant. How can I help today?",
    "Hello 👋 What can I do for you?",
    "Hi there, how can I help?",
)
THANKS = (
    "thanks!",
    "Great, thank you",
    "perfect, thanks a lot",
    "ok that helps",
    "thank you, that's all",
    "cool thx",
)
UNHAPPY = (
    "that doesn't really answer my question",
    "Can I talk to a real person please?",
    "hmm ok. that's not very helpful",
    "I already read that",
)
AGENT_LINES = (
    "Hi, this is {agent} from the customer team. I've read the chat, let me sort this out.",
    "Hello, {agent} here. Thanks for waiting, I'm taking over from the assistant.",
    "Hi! {agent} from Shop Example support. I'll help you with this.",
)
AGENT_FOLLOW = (
    "I've set this up for you and you'll get an email confirmation shortly.",
    "I've forwarded this to the right team; they'll contact you within one working day.",
    "Done - I've added a note to your account. Anything else?",
)
AGENTS = ("Sarah", "Tom", "Priya", "Jonas", "Lea", "Marco")
CONTACT_LINES_EMAIL = (
    "my email is {email}",
    "you can reach me at {email}",
    "email me at {email} please",
    "it's under {email}",
)
CONTACT_LINES_PHONE = (
    "call me on {phone}",
    "my number is {phone}",
    "you can phone me at {phone} if that's easier",
)
PRODUCTS = (
    "merino crew sweater",
    "rain shell jacket",
    "organic cotton tee",
    "slim chinos",
    "wool beanie",
    "linen shirt",
    "denim jacket",
    "work polo",
    "fleece hoodie",
)
SIZES = ("XS", "S", "M", "L", "XL")
CODES = ("WELCOME10", "SUMMER15", "FRIEND20", "NEWSLETTER10", "VIP25")
COUNTRIES = ("Canada", "the US", "Switzerland", "Norway", "Australia", "the UK")
INDUSTRY_WORDS = ("catering", "hotel", "construction", "healthcare", "events", "logistics")
PHONES = (
    "+44 7700 900{n3}",
    "+49 151 2345{n4}",
    "(415) 555-0{n3}",
    "+1 212-555-0{n3}",
    "06 12 34 {n2} {n2b}",
    "+31 6 1234 {n4}",
)
